// switchTraffic: all traffic on the target. The driver journals the weight and puts the table in
// force before the step runs; the step records it. Undone, like a canary's weight, by switching back.
import { type Compensation, DONE, type StepHandler } from './step-context.ts';

/**
 * All traffic back on the stable revision. The driver journals it first (the rollout at weight 0,
 * so a controller restarted here recomputes the stable-only table) and opens the incident after.
 */
export const switchBack: Compensation = {
  action: 'switchBack',
  async run(sc) {
    await sc.applyRoutes(sc.app, sc.rollout);
  },
};

export const switchTraffic: StepHandler = {
  describe: ({ target }) => `switching all traffic to revision ${target.number}`,
  async run(sc) {
    // A warm rollback's switch was made (and recorded) when it was created.
    if (sc.rollout.state.switchedAt === undefined)
      await sc.event('traffic.switched', `100% of traffic on revision ${sc.target.number}`);
    return DONE;
  },
  compensate: switchBack,
};
