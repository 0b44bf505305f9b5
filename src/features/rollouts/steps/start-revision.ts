// startRevision: start the target's instances; undone by stopping them.
import { unitOf } from '../../revisions/revision-spec.ts';
import { type Compensation, DONE, failed, type StepHandler } from './step-context.ts';

export const stopRevision: Compensation = {
  action: 'stopRevision',
  async run(sc) {
    const { rollout, target, store } = sc;
    // A unit that also serves the stable revision (a rollback's copy) is never stopped here.
    if (rollout.fromRevision !== null) {
      const from = await store.revisions.get(rollout.app, rollout.fromRevision);
      if (from && unitOf(from) === target.unit) return;
    }
    await sc.applyRoutes(sc.app, rollout);
    await sc.runtime.stopRevision(rollout.app, target.unit);
    await sc.event('revision.stopped', `stopped the processes of revision ${target.number}`);
  },
};

export const startRevision: StepHandler = {
  describe: ({ target }) =>
    `starting ${target.spec.instances} instance(s) of revision ${target.number} (${target.spec.version})`,
  async run(sc) {
    const { target } = sc;
    let env: Record<string, string>;
    try {
      env = sc.envOf(sc.app, target.spec);
    } catch (err) {
      return failed(sc, (err as Error).message);
    }
    for (let index = 0; index < target.spec.instances; index++) {
      const inst = await sc.runtime.start({
        app: sc.app.spec.name,
        revision: target.unit,
        index,
        command: target.spec.command,
        cwd: target.spec.cwd,
        env,
        stopTimeoutMs: target.spec.stopTimeoutMs,
        version: target.spec.version,
      });
      if (inst.phase === 'Failed') return failed(sc, inst.reason ?? 'failed to start');
    }
    return DONE;
  },
  compensate: stopRevision,
};
