// The handler of every step kind. A Record over StepName: a step kind without a handler does not compile.
import { bake } from './bake.ts';
import { migrateContract, migrateExpand } from './migrate.ts';
import { analysis, pause } from './pause.ts';
import { prePromotionChecks } from './pre-promotion-checks.ts';
import { setWeight } from './set-weight.ts';
import { startRevision } from './start-revision.ts';
import type { StepHandlers } from './step-context.ts';
import { switchTraffic } from './switch-traffic.ts';
import { undoContract, undoExpand } from './undo-migrations.ts';
import { verify } from './verify.ts';
import { waitHealthy } from './wait-healthy.ts';

export const STEP_HANDLERS: StepHandlers = {
  migrateExpand,
  startRevision,
  waitHealthy,
  prePromotionChecks,
  setWeight,
  pause,
  analysis,
  switchTraffic,
  bake,
  verify,
  migrateContract,
  undoContract,
  undoExpand,
};
