// waitHealthy: every instance of the target healthy within the app's start timeout; a revision
// that crashes at start or fails ends the wait early.
import { formatDuration } from '../../../shared/duration.ts';
import { DONE, failed, failedInstance, PENDING, type StepHandler, targetInstances } from './step-context.ts';

/** Crashes of a new revision while it should become healthy that end the wait early. */
const CRASHES_BEFORE_GIVING_UP = 2;

export const waitHealthy: StepHandler = {
  describe: ({ app, target }) =>
    `waiting for revision ${target.number} to pass ${app.spec.health.path} (up to ${formatDuration(app.spec.health.startTimeout)})`,
  async run(sc) {
    const dead = await failedInstance(sc);
    if (dead) return dead;
    const { health, app, target } = sc;
    const mine = targetInstances(sc);
    const crashed = mine.find((i) => i.restarts >= CRASHES_BEFORE_GIVING_UP);
    if (crashed) {
      const exit = crashed.lastExit;
      const how = exit ? (exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`) : 'exited';
      return failed(sc, `instance ${crashed.index} crashed at start ${crashed.restarts} times (${how})`);
    }
    const healthy = mine.filter((i) => i.phase === 'Running' && health.verdict(i.id) === 'Healthy');
    if (healthy.length >= target.spec.instances) return DONE;
    // Health is only seen while a controller probes: the time a killed controller took to come
    // back does not count against startTimeout (it used to fail resumed deploys on a busy box).
    const now = sc.clock.now();
    const waited = now - Math.max(sc.rollout.state.stepStartedAt ?? now, sc.controllerStartedAt);
    if (waited > app.spec.health.startTimeout) {
      const detail = mine.map((i) => health.detail(i.id)).find(Boolean) ?? 'no instance running';
      return failed(sc, `not healthy within ${formatDuration(app.spec.health.startTimeout)}: ${detail}`);
    }
    return PENDING;
  },
};
