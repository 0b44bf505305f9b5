// verify: the last step of a rollback, a fresh health check of the restored revision's instances.
// It records what it saw and never turns the rollback around; the verdict with the error rate
// comes later (rollback-verification.ts).
import { DONE, type StepHandler, targetInstances } from './step-context.ts';

export const verify: StepHandler = {
  describe: ({ target }) => `verifying revision ${target.number}`,
  async run(sc) {
    const results = await Promise.all(
      targetInstances(sc)
        .filter((i) => i.phase === 'Running')
        .map((i) => sc.health.check(i)),
    );
    const bad = results.filter((r) => !r.ok);
    const ok = results.length > 0 && bad.length === 0;
    const n = sc.target.number;
    await sc.event(
      ok ? 'verify.passed' : 'verify.failed',
      ok
        ? `revision ${n} verified healthy (${results.length} instances)`
        : `revision ${n} is not healthy after the rollback: ${bad[0]?.detail ?? 'no instance running'}`,
    );
    return DONE;
  },
};
