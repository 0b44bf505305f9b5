// The `analysis` block of an app in rewind.yaml: rules evaluated on per-second metrics, the
// monitoring window of P1 breaches, and the fast canary-vs-baseline judgment.
import { z } from 'zod';
import { parseDuration } from '../shared/duration.ts';
import { durationSchema } from '../shared/duration-schema.ts';
import { SEVERITIES, type Severity } from './severity.ts';

export { SEVERITIES, type Severity };

export const METRICS = [
  'errorRate',
  'latencyP50',
  'latencyP95',
  'latencyP99',
  'requestRate',
  'healthFailing',
  'unavailable',
  'cpu',
  'memory',
  'logErrors',
] as const;
export type Metric = (typeof METRICS)[number];

/** Boolean metrics: their value in a window is the share of seconds flagged (0..1). */
export const HEALTH_METRICS: readonly Metric[] = ['healthFailing', 'unavailable'];
const LATENCY_METRICS: readonly Metric[] = ['latencyP50', 'latencyP95', 'latencyP99'];
/**
 * Measured by the runtime, not the traffic (Runtime.usage): CPU and memory as a share of what the
 * revision may use (0..1), error lines in the last minute.
 */
export const RESOURCE_METRICS: readonly Metric[] = ['cpu', 'memory', 'logErrors'];
/** `logErrors` is the count of error lines in the last minute, whatever the interval. */
export const LOG_ERRORS_WINDOW_SECONDS = 60;
/** Metrics whose value is a share between 0 and 1, written as a fraction or a percentage. */
const SHARE_METRICS: readonly Metric[] = ['errorRate', 'cpu', 'memory'];
/** Metrics judged on requests, to which minSample applies. */
const SAMPLED_METRICS: readonly Metric[] = ['errorRate', ...LATENCY_METRICS];

export const DEFAULT_MIN_SAMPLE = 20;
/** Longest `for` and monitoringWindow accepted. */
const MAX_WINDOW_MS = 3_600_000;

export type Threshold =
  | { readonly kind: 'absolute'; readonly value: number }
  | { readonly kind: 'relative'; readonly factor: number };

/** A rule after parsing: every default filled in, durations in ms. */
export interface Rule {
  readonly name: string;
  readonly metric: Metric;
  readonly direction: 'above' | 'below';
  readonly threshold: Threshold;
  /** How long the breach must hold continuously, ms (0: at once). */
  readonly for: number;
  /** Requests in the window before the rule may judge (0 for health metrics and requestRate). */
  readonly minSample: number;
  readonly severity: Severity;
  /**
   * A kill switch: the key of a feature flag whose breach disables that flag (a partial rollback)
   * instead of acting on the whole revision.
   */
  readonly flag?: string;
  /**
   * `always`: also judged on the stable revision once its rollout, bake and post-deploy watch are
   * over (the steady-state watch), so that a breach that starts an hour later still acts.
   */
  readonly watch?: 'always';
}

const duration = (example: string) =>
  durationSchema(example, { max: MAX_WINDOW_MS, maxReason: 'the 1h of history analysis keeps' });

const kebab = (metric: string) => metric.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

const METRIC_LIST = METRICS.join(', ');
const RELATIVE = /^(\d+(?:\.\d+)?|\.\d+)\s*[x×]\s*baseline$/i;
const PERCENT = /^(-?\d+(?:\.\d+)?)\s*%$/;
const NUMBER = /^-?(\d+(?:\.\d+)?|\.\d+)$/;

type Issue = { message: string; path: (string | number)[] };

function parseThreshold(metric: Metric, key: 'above' | 'below', raw: unknown): Threshold | Issue {
  const at = (message: string): Issue => ({ message, path: [key] });
  const shown = typeof raw === 'string' ? `"${raw}"` : String(raw);
  let threshold: Threshold | undefined;
  if (typeof raw === 'number') threshold = { kind: 'absolute', value: raw };
  else if (typeof raw === 'string') {
    const text = raw.trim();
    const relative = RELATIVE.exec(text);
    const percent = PERCENT.exec(text);
    if (relative) threshold = { kind: 'relative', factor: Number(relative[1]) };
    else if (percent && (SHARE_METRICS.includes(metric) || HEALTH_METRICS.includes(metric)))
      threshold = { kind: 'absolute', value: Number(percent[1]) / 100 };
    else if (NUMBER.test(text)) threshold = { kind: 'absolute', value: Number(text) };
    else if (LATENCY_METRICS.includes(metric) && parseDuration(text) !== undefined)
      threshold = { kind: 'absolute', value: parseDuration(text)! };
  }
  if (!threshold) {
    const forms = SHARE_METRICS.includes(metric)
      ? `a fraction (${example(metric)}), a percentage ("${Math.round(Number(example(metric)) * 100)}%")`
      : LATENCY_METRICS.includes(metric)
        ? 'milliseconds (250) or a duration ("250ms")'
        : metric === 'logErrors'
          ? 'error lines per minute (5)'
          : 'a number';
    return at(
      `${key}: ${shown} is not a threshold for ${metric}; write ${forms}, or a multiple of the stable revision such as "3x baseline"`,
    );
  }
  if (threshold.kind === 'relative') {
    if (HEALTH_METRICS.includes(metric))
      return at(
        `${key}: ${shown} compares ${metric} with the baseline, but ${metric} is a yes/no state of this revision; write a share of seconds such as ${key}: 0 or leave ${key} out`,
      );
    if (!Number.isFinite(threshold.factor) || threshold.factor <= 0)
      return at(
        `${key}: ${shown} can never be judged; a multiple of the baseline is greater than 0, such as "3x baseline"`,
      );
    return threshold;
  }
  const v = threshold.value;
  if (!Number.isFinite(v))
    return at(`${key}: ${shown} is not a number; write a finite threshold such as 0.05`);
  if (v < 0) return at(`${key}: ${shown} is negative; ${metric} is never below 0, so write a threshold >= 0`);
  if (key === 'below' && v <= 0)
    return at(`below: ${shown} can never fire: ${metric} is never below 0; write a threshold greater than 0`);
  if (key === 'above' && v >= 1 && (SHARE_METRICS.includes(metric) || HEALTH_METRICS.includes(metric))) {
    const hint = SHARE_METRICS.includes(metric) && v <= 100 ? `; did you mean "${v}%"?` : '';
    const fraction = SHARE_METRICS.includes(metric) ? example(metric) : '0.05';
    return at(
      `above: ${shown} can never fire: ${metric} is a share between 0 and 1; write a fraction such as ${fraction}${hint}`,
    );
  }
  return threshold;
}

/**
 * A fixed threshold of `metric` as a rule's `above:` writes it ("1%", 0.01, "2s"), for a setting
 * outside a rule that judges a revision alone (verify:): no "x baseline".
 */
export function absoluteThresholdSchema(metric: Metric) {
  return z.union([z.number(), z.string()]).transform((raw, ctx) => {
    const t = parseThreshold(metric, 'above', raw);
    if ('message' in t) {
      ctx.addIssue({ code: 'custom', message: t.message.replace(/^above: /, '') });
      return z.NEVER;
    }
    if (t.kind === 'relative') {
      ctx.addIssue({
        code: 'custom',
        message: `"${raw}" compares with a baseline, but this setting judges one revision alone; write a fixed threshold such as ${example(metric)}`,
      });
      return z.NEVER;
    }
    return t.value;
  });
}

const ruleInputSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a rule name is lower-case letters, digits and -')
    .optional(),
  metric: z.string(),
  above: z.unknown().optional(),
  below: z.unknown().optional(),
  for: duration('5m').default(0),
  minSample: z.number().int('minSample is a whole number of requests').min(0).optional(),
  severity: z.enum(SEVERITIES, { error: () => `severity is one of ${SEVERITIES.join(', ')}` }),
  flag: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a flag key is letters, digits, ., _ and -')
    .optional(),
  watch: z
    .enum(['always'], {
      error: (i) =>
        `watch: ${JSON.stringify(i.input)} is not a watch; write watch: always to keep judging the stable revision after its rollout and watch, or leave watch out`,
    })
    .optional(),
});

export const ruleSpecSchema = ruleInputSchema.transform((raw, ctx): Rule => {
  const issue = (message: string, path: (string | number)[]) => {
    ctx.addIssue({ code: 'custom', message, path });
    return z.NEVER;
  };
  if (!(METRICS as readonly string[]).includes(raw.metric))
    return issue(`"${raw.metric}" is not a metric; use one of ${METRIC_LIST}`, ['metric']);
  const metric = raw.metric as Metric;
  const health = HEALTH_METRICS.includes(metric);
  const hasAbove = raw.above !== undefined;
  const hasBelow = raw.below !== undefined;
  if (hasAbove && hasBelow)
    return issue(`give either above or below, not both; write two rules to bound ${metric} on both sides`, [
      'below',
    ]);
  if (!hasAbove && !hasBelow && !health)
    return issue(`give a threshold: above: or below:, for example above: ${example(metric)}`, ['metric']);
  const direction = hasBelow ? 'below' : 'above';
  const parsed =
    hasAbove || hasBelow ? parseThreshold(metric, direction, hasBelow ? raw.below : raw.above) : null;
  if (parsed && 'message' in parsed) return issue(parsed.message, parsed.path);
  const threshold: Threshold = parsed ?? { kind: 'absolute', value: 0 };
  if (raw.minSample !== undefined && !SAMPLED_METRICS.includes(metric))
    return issue(
      `minSample does not apply to ${metric} (it is judged every second whatever the traffic); remove it`,
      ['minSample'],
    );
  if (raw.watch === 'always' && threshold.kind === 'relative')
    return issue(
      `watch: always judges the stable revision alone, with no baseline beside it, so ${direction}: "${threshold.factor}x baseline" cannot be judged there; write an absolute threshold (such as "500ms" for a latency), or leave watch out`,
      ['watch'],
    );
  return {
    name: raw.name ?? kebab(metric),
    metric,
    direction,
    threshold,
    for: raw.for,
    minSample: SAMPLED_METRICS.includes(metric) ? (raw.minSample ?? DEFAULT_MIN_SAMPLE) : 0,
    severity: raw.severity,
    ...(raw.flag !== undefined && { flag: raw.flag }),
    ...(raw.watch !== undefined && { watch: raw.watch }),
  };
});

function example(metric: Metric): string {
  if (metric === 'errorRate') return '0.05';
  if (metric === 'cpu') return '0.7';
  if (metric === 'memory') return '0.8';
  if (metric === 'logErrors') return '5';
  if (metric === 'requestRate') return '1';
  return '"3x baseline"';
}

export const canaryJudgmentSpecSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** 1 - the false-alarm probability of the sequential error-rate test over a whole analysis. */
  confidence: z
    .number()
    .gt(0.5, 'confidence is a probability above 0.5, such as 0.99')
    .lt(1, 'confidence is below 1 (1 would never decide); use for example 0.99 or 0.999')
    .default(0.99),
  /** Canary requests before the judgment may say Worse. */
  minSample: z.number().int().min(1, 'minSample is at least 1 request; 50 is a sane floor').default(50),
});

export const serviceDownSpecSchema = z.strictObject({
  enabled: z.boolean().default(true),
  factor: z.number().gt(1, 'factor is a multiple of the threshold above 1, such as 5').default(5),
  errorRate: z
    .number()
    .gt(0, 'errorRate is a share above 0, such as 0.5')
    .max(1, 'errorRate is a share of at most 1, such as 0.5')
    .default(0.5),
  window: duration('3s')
    .default(3000)
    .refine((ms) => ms >= 1000, 'window is at least 1s: metrics come in one-second buckets'),
  /** A release whose instance crashes (exits and is restarted) while it is analysed: P0 at once. */
  crashes: z.boolean().default(true),
});

export const beforeAfterSpecSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Requests of the previous revision before the switch needed for a judgment. */
  minBefore: z.number().int().min(1, 'minBefore is at least 1 request; 100 is a sane floor').default(100),
  /** The previous revision's newest traffic may end at most this long before the switch. */
  maxBeforeAge: duration('30s').default(30_000),
  /** Latency is compared from this long after the switch: a fresh process warms up first. */
  latencyWarmup: duration('10s').default(10_000),
  /** ... and it must be slower in every 10 s window for this long before it counts. */
  latencyFor: duration('20s').default(20_000),
});

export const analysisSpecSchema = z.strictObject({
  interval: duration('1s')
    .default(1000)
    .refine((ms) => ms >= 1000, 'interval is at least 1s: metrics come in one-second buckets'),
  monitoringWindow: duration('10m').default(600_000),
  canaryJudgment: canaryJudgmentSpecSchema.prefault({}),
  /** The same test for a release that takes all traffic at once, against the minutes before the switch. */
  beforeAfter: beforeAfterSpecSchema.prefault({}),
  /** Severity by size: far past a rollback rule's threshold is P0 at once, whatever its `for`. */
  serviceDown: serviceDownSpecSchema.prefault({}),
  rules: z
    .array(ruleSpecSchema)
    .default([])
    .superRefine((rules, ctx) => {
      const seen = new Set<string>();
      rules.forEach((rule, i) => {
        if (seen.has(rule.name))
          ctx.addIssue({
            code: 'custom',
            path: [i, 'name'],
            message: `two rules are named "${rule.name}"; give each a distinct name:`,
          });
        seen.add(rule.name);
      });
    }),
});

export type AnalysisSpec = z.output<typeof analysisSpecSchema>;
export type CanaryJudgmentSpec = z.output<typeof canaryJudgmentSpecSchema>;

/** The rollback triggers of seed 004, used when an app declares no rules. */
export const DEFAULT_RULES: readonly Rule[] = [
  {
    name: 'error-rate',
    metric: 'errorRate',
    direction: 'above',
    threshold: { kind: 'absolute', value: 0.05 },
    for: 300_000,
    minSample: DEFAULT_MIN_SAMPLE,
    severity: 'P0',
  },
  {
    name: 'latency-p99',
    metric: 'latencyP99',
    direction: 'above',
    threshold: { kind: 'relative', factor: 3 },
    for: 600_000,
    minSample: DEFAULT_MIN_SAMPLE,
    severity: 'P1',
  },
  {
    name: 'health-failing',
    metric: 'healthFailing',
    direction: 'above',
    threshold: { kind: 'absolute', value: 0 },
    for: 180_000,
    minSample: 0,
    severity: 'P0',
  },
  {
    name: 'unavailable',
    metric: 'unavailable',
    direction: 'above',
    threshold: { kind: 'absolute', value: 0 },
    for: 120_000,
    minSample: 0,
    severity: 'P0',
  },
];

/** The rules an app is analysed with: its own, or the seed's defaults when it declares none. */
export function resolveRules(spec: Pick<AnalysisSpec, 'rules'>): readonly Rule[] {
  return spec.rules.length > 0 ? spec.rules : DEFAULT_RULES;
}

/** The rules of the steady-state watch: those marked `watch: always` (none by default). */
export function steadyStateRules(spec: Pick<AnalysisSpec, 'rules'>): readonly Rule[] {
  return spec.rules.filter((r) => r.watch === 'always');
}

/** Widest window a rule looks back over to find enough requests (seconds). */
export const MAX_SAMPLE_WINDOW_SECONDS = 60;

/**
 * Seconds of history the controller should keep per revision (SeriesBuffer capacity) so that every
 * `for` and the monitoring window can be measured from the series.
 */
export function requiredHistorySeconds(spec: Pick<AnalysisSpec, 'rules' | 'monitoringWindow'>): number {
  const longest = Math.max(spec.monitoringWindow, ...resolveRules(spec).map((r) => r.for));
  return Math.ceil(longest / 1000) + MAX_SAMPLE_WINDOW_SECONDS;
}
