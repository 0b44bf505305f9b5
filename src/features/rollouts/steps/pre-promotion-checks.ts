// prePromotionChecks: the app's checks, then its pre-promotion hooks, against the target before
// it takes traffic; the first that fails aborts the rollout.
import { rolloutSettings } from '../../../spec/app-spec.ts';
import { checkName, runCheck } from '../../health/probe.ts';
import { hookName, runHook } from '../hooks.ts';
import { checkTarget, DONE, failed, hookContext, type StepHandler } from './step-context.ts';

export const prePromotionChecks: StepHandler = {
  describe: ({ app, target }) =>
    `running ${rolloutSettings(app.spec).prePromotionChecks.length} pre-promotion check(s) on revision ${target.number}`,
  async run(sc) {
    const { app, target, rollout } = sc;
    for (const check of rolloutSettings(app.spec).prePromotionChecks) {
      const result = await runCheck(check, checkTarget(app.spec, target.number, target.spec));
      await sc.event(
        result.ok ? 'check.passed' : 'check.failed',
        `check ${checkName(check)}: ${result.ok ? 'passed' : result.detail}`,
      );
      if (!result.ok) return failed(sc, `pre-promotion check ${checkName(check)} failed: ${result.detail}`);
    }
    for (const hook of app.spec.hooks.prePromotion) {
      const result = await runHook(hook, hookContext('prePromotion', app, rollout, target));
      await sc.event(
        result.ok ? 'hook.passed' : 'hook.failed',
        `pre-promotion hook ${hookName(hook)}: ${result.ok ? 'passed' : result.detail}`,
      );
      if (!result.ok) return failed(sc, `pre-promotion hook ${hookName(hook)} failed: ${result.detail}`);
    }
    return DONE;
  },
};
