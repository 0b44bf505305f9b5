// pause and analysis: a canary waits at its weight while the analysis judges (the driver runs it
// before every step). A pause without a duration waits for `rewind promote`.
import { formatDuration } from '../../../shared/duration.ts';
import { DONE, elapsed, failedInstance, PENDING, type StepHandler } from './step-context.ts';

export const pause: StepHandler = {
  describe: ({ app, step }) =>
    step.durationMs == null
      ? `paused until \`rewind promote ${app.spec.name}\``
      : `pausing for ${formatDuration(step.durationMs)}`,
  async run(sc) {
    const dead = await failedInstance(sc);
    if (dead) return dead;
    if (sc.step.durationMs == null) return PENDING;
    return elapsed(sc) >= sc.step.durationMs ? DONE : PENDING;
  },
};

export const analysis: StepHandler = {
  describe: ({ step, target }) =>
    `analysing revision ${target.number} for ${formatDuration(step.durationMs ?? 0)}`,
  async run(sc) {
    const dead = await failedInstance(sc);
    if (dead) return dead;
    return elapsed(sc) >= (sc.step.durationMs ?? 0) ? DONE : PENDING;
  },
};
