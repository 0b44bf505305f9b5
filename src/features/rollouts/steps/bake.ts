// bake: all traffic on the target for the bake window, the previous revision warm; an instance
// that fails or turns unhealthy meanwhile rolls it back.
import { formatDuration } from '../../../shared/duration.ts';
import { rolloutSettings } from '../../../spec/app-spec.ts';
import {
  DONE,
  elapsed,
  failed,
  failedInstance,
  PENDING,
  type StepHandler,
  targetInstances,
} from './step-context.ts';

export const bake: StepHandler = {
  describe: ({ app, target }) =>
    `baking revision ${target.number} for ${formatDuration(rolloutSettings(app.spec).bake)}; the previous revision stays warm`,
  async run(sc) {
    const dead = await failedInstance(sc);
    if (dead) return dead;
    const sick = targetInstances(sc).find((i) => sc.health.verdict(i.id) === 'Unhealthy');
    if (sick)
      return failed(sc, `instance ${sick.index} unhealthy while baking: ${sc.health.detail(sick.id)}`);
    return elapsed(sc) >= rolloutSettings(sc.app.spec).bake ? DONE : PENDING;
  },
};
