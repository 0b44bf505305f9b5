// Evaluates a flag set with flagd's own engine (@openfeature/flagd-core): the same JsonLogic, the same
// fractional hashing, sem_ver, starts_with/ends_with and $flagd.flagKey/$flagd.timestamp, so a flag
// behaves in Rewind exactly as it would in flagd. Failures are data: a resolution with reason ERROR.

import type { EvaluationContext as FlagdContext } from '@openfeature/core';
import { FlagdCore } from '@openfeature/flagd-core';
import type { FlagMetadata, FlagSet, VariantValue } from './flag-set.ts';
import { loadFlagdStorage, silentFlagdLogger } from './flagd-storage.ts';
import { bucketsByTargetingKey } from './targeting-rule.ts';

export type FlagValueType = 'boolean' | 'string' | 'number' | 'object';
/** What the application knows about the subject; `targetingKey` identifies it for fractional splits. */
export type EvaluationContext = Readonly<Record<string, unknown>>;
export type ResolutionErrorCode =
  | 'FLAG_NOT_FOUND'
  | 'PARSE_ERROR'
  | 'TYPE_MISMATCH'
  | 'TARGETING_KEY_MISSING'
  | 'GENERAL';

interface ResolutionBase {
  readonly key: string;
  /** The flag set's metadata merged with the flag's (the flag's keys win), as flagd merges them. */
  readonly metadata: FlagMetadata;
}

/** A value from the flag set. STATIC: no targeting; DEFAULT: targeting returned nothing. */
export interface ResolvedFlag extends ResolutionBase {
  readonly reason: 'STATIC' | 'TARGETING_MATCH' | 'DEFAULT';
  readonly value: VariantValue;
  readonly variant: string;
}

/**
 * No value: the application uses its own code default. DISABLED: the flag is switched off (as in
 * flagd-core). DEFAULT: targeting fell through and the flag has no defaultVariant (flagd's
 * `"defaultVariant": null`). OFREP answers both as a success without `value` (ADR-0006).
 */
export interface CodeDefaultFlag extends ResolutionBase {
  readonly reason: 'DISABLED' | 'DEFAULT';
  readonly codeDefault: true;
}

export interface FailedFlag extends ResolutionBase {
  readonly reason: 'ERROR';
  readonly errorCode: ResolutionErrorCode;
  readonly errorDetails: string;
}

export type FlagResolution = ResolvedFlag | CodeDefaultFlag | FailedFlag;

export interface FlagEvaluator {
  readonly flagSet: FlagSet;
  /** True when some rule reads $flagd.timestamp, so results can change without a new version. */
  readonly timeDependent: boolean;
  /** Flags taken over, unchanged, from the evaluator this one was built from (none were parsed again). */
  readonly reused: number;
  /** Never throws; an unknown key resolves to FLAG_NOT_FOUND. */
  evaluate(key: string, context: EvaluationContext, expectedType?: FlagValueType): FlagResolution;
  /** Every flag of the set, in the set's order, disabled ones included. */
  evaluateAll(context: EvaluationContext): FlagResolution[];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const typeOf = (value: unknown): string =>
  isObject(value) ? 'object' : Array.isArray(value) ? 'array' : typeof value;

/** One flag loaded by flagd-core, with the JSON it was loaded from (to know when it changed). */
interface LoadedFlag {
  readonly source: string;
  readonly core: FlagdCore;
}

/** What an evaluator loaded, so that the next one built from it reloads only what changed. */
const loadedBy = new WeakMap<FlagEvaluator, { shared: string; flags: Map<string, LoadedFlag> }>();

/**
 * `set` must come from parseFlagSet; flagd-core loads it as flagd does, leniently. Each flag is
 * loaded on its own, with the set's `$evaluators` and `metadata` (flagd-core parses flags
 * independently, so the result is the same); given the evaluator in force, a flag whose
 * definition, `$evaluators` and `metadata` did not change is taken over rather than parsed again,
 * so a change to one flag costs one flag's parse in the thread that serves the answers.
 */
export function createFlagEvaluator(set: FlagSet, previous?: FlagEvaluator): FlagEvaluator {
  const shared = JSON.stringify([set.$evaluators ?? null, set.metadata ?? null]);
  const before = previous && loadedBy.get(previous);
  const reusable = before?.shared === shared ? before.flags : undefined;
  const flags = new Map<string, LoadedFlag>();
  let reused = 0;
  for (const [key, definition] of Object.entries(set.flags)) {
    const source = JSON.stringify(definition);
    const known = reusable?.get(key);
    if (known?.source === source) {
      flags.set(key, known);
      reused++;
      continue;
    }
    const document = JSON.stringify({
      ...(set.$evaluators && { $evaluators: set.$evaluators }),
      ...(set.metadata && { metadata: set.metadata }),
      flags: { [key]: definition },
    });
    flags.set(key, { source, core: new FlagdCore(loadFlagdStorage(document), silentFlagdLogger) });
  }
  const setMetadata = (set.metadata ?? {}) as FlagMetadata;
  const evaluators = set.$evaluators ?? {};
  const needsTargetingKey = new Set(
    Object.entries(set.flags)
      .filter(([, flag]) => bucketsByTargetingKey(flag.targeting, evaluators))
      .map(([key]) => key),
  );

  const evaluate = (
    key: string,
    context: EvaluationContext,
    expectedType?: FlagValueType,
  ): FlagResolution => {
    const flag = flags.get(key)?.core.getFlag(key);
    if (flag === undefined) {
      return fail(key, setMetadata, 'FLAG_NOT_FOUND', `flag "${key}" does not exist`);
    }
    const metadata = flag.metadata;
    if (flag.state === 'DISABLED') return { key, reason: 'DISABLED', codeDefault: true, metadata };
    const raw = flag.evaluate(context as FlagdContext, silentFlagdLogger);
    if (raw.reason === 'ERROR') {
      const code = raw.errorCode === 'PARSE_ERROR' ? 'PARSE_ERROR' : 'GENERAL';
      return fail(key, metadata, code, raw.errorMessage ?? `flag "${key}" failed to evaluate`);
    }
    // flagd serves the default variant when a targetingKey split has no key; Rewind says why instead.
    const targetingKey = context.targetingKey;
    if (
      raw.reason === 'DEFAULT' &&
      needsTargetingKey.has(key) &&
      (typeof targetingKey !== 'string' || targetingKey === '')
    ) {
      return fail(
        key,
        metadata,
        'TARGETING_KEY_MISSING',
        `flag "${key}" splits traffic by targetingKey; send one in the context`,
      );
    }
    if (raw.reason === 'DEFAULT' && raw.value === undefined && flag.defaultVariant === undefined) {
      return { key, reason: 'DEFAULT', codeDefault: true, metadata };
    }
    if (raw.value === undefined || raw.variant === undefined) {
      return fail(key, metadata, 'GENERAL', `flag "${key}" resolved to no value`);
    }
    const value = raw.value as VariantValue;
    if (expectedType !== undefined && typeOf(value) !== expectedType) {
      return fail(
        key,
        metadata,
        'TYPE_MISMATCH',
        `flag "${key}" is a ${typeOf(value)}, not a ${expectedType}`,
      );
    }
    const reason: ResolvedFlag['reason'] =
      raw.reason === 'STATIC' ? 'STATIC' : raw.reason === 'DEFAULT' ? 'DEFAULT' : 'TARGETING_MATCH';
    return { key, reason, value, variant: raw.variant, metadata };
  };

  const evaluator: FlagEvaluator = {
    flagSet: set,
    timeDependent: JSON.stringify(set).includes('$flagd.timestamp'),
    reused,
    evaluate,
    evaluateAll: (context) => Object.keys(set.flags).map((key) => evaluate(key, context)),
  };
  loadedBy.set(evaluator, { shared, flags });
  return evaluator;
}

function fail(
  key: string,
  metadata: FlagMetadata,
  errorCode: ResolutionErrorCode,
  errorDetails: string,
): FailedFlag {
  return { key, reason: 'ERROR', errorCode, errorDetails, metadata };
}
