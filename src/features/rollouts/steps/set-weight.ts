// setWeight: a canary's share of traffic. The driver journals the weight and puts it in force
// before the step runs; the step records it for the incident's weight history.
import { DONE, type StepHandler } from './step-context.ts';
import { switchBack } from './switch-traffic.ts';

export const setWeight: StepHandler = {
  describe: ({ step, target }) => `setting ${step.weight}% of traffic on revision ${target.number}`,
  async run(sc) {
    const { weight } = sc.rollout.state;
    await sc.event('traffic.weight', `${weight}% of traffic on revision ${sc.target.number}`, { weight });
    return DONE;
  },
  compensate: switchBack,
};
