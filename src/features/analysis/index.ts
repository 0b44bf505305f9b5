// Analysis: rules on per-second metrics, the canary judgment, and the seed-004 decision matrix.
export {
  type AnalysisSpec,
  analysisSpecSchema,
  type CanaryJudgmentSpec,
  canaryJudgmentSpecSchema,
  DEFAULT_RULES,
  HEALTH_METRICS,
  LOG_ERRORS_WINDOW_SECONDS,
  METRICS,
  type Metric,
  RESOURCE_METRICS,
  type Rule,
  requiredHistorySeconds,
  resolveRules,
  ruleSpecSchema,
  SEVERITIES,
  type Severity,
  steadyStateRules,
  type Threshold,
} from '../../spec/analysis-spec.ts';
export {
  type AssessOptions,
  assessRule,
  formatValue,
  type RulePhase,
  type RuleVerdict,
} from './assess-rule.ts';
export {
  BEFORE_SECONDS,
  type BeforeAfterOptions,
  type BeforeSummary,
  beforeLatency,
  beforeProblem,
  judgeBeforeAfter,
  judgeErrorsBeforeAfter,
  referencePoints,
  summarizeBefore,
} from './before-after.ts';
export {
  type CanaryJudgment,
  type CanaryJudgmentOptions,
  compareLatency,
  type JudgmentVerdict,
  judgeCanary,
  judgeErrorRate,
  judgeLatency,
  mannWhitney,
} from './canary-judgment.ts';
export { CRASH_RULE, crashVerdicts, type InstanceLife, restartCounts } from './crashes.ts';
export {
  type Action,
  breachKey,
  type Decision,
  type DecisionInput,
  decideAction,
  decideAll,
} from './decide.ts';
export {
  addHistogram,
  emptyHistogram,
  type HistogramSum,
  histogramCount,
  quantile,
  rebin,
  sameBounds,
} from './histogram.ts';
export {
  addUsage,
  type RevisionResources,
  revisionUsage,
  summarizeResources,
  type UsagePoint,
  usageByRevision,
} from './resources.ts';
export {
  DEFAULT_SERIES_SECONDS,
  emptyPoint,
  errorRate,
  failedRequests,
  type HealthState,
  type Point,
  pointFromJson,
  pointsFromSamples,
  pointToJson,
  type RequestCounts,
  type ResourceUsage,
  requestRate,
  SeriesBuffer,
  SeriesIndex,
  seriesBounds,
  sumWindow,
  UNKNOWN_HEALTH,
  type WindowSum,
} from './series.ts';
export { DEFAULT_SERVICE_DOWN, type ServiceDownSpec, serviceDownVerdicts } from './service-down.ts';
