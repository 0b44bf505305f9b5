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
  /** Never throws; an unknown key resolves to FLAG_NOT_FOUND. */
  evaluate(key: string, context: EvaluationContext, expectedType?: FlagValueType): FlagResolution;
  /** Every flag of the set, in the set's order, disabled ones included. */
  evaluateAll(context: EvaluationContext): FlagResolution[];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const typeOf = (value: unknown): string =>
  isObject(value) ? 'object' : Array.isArray(value) ? 'array' : typeof value;

/** `set` must come from parseFlagSet; flagd-core loads it as flagd does, leniently. */
export function createFlagEvaluator(set: FlagSet): FlagEvaluator {
  const core = new FlagdCore(loadFlagdStorage(JSON.stringify(set)), silentFlagdLogger);
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
    const flag = core.getFlag(key);
    if (flag === undefined) {
      return fail(key, core.getFlagSetMetadata(), 'FLAG_NOT_FOUND', `flag "${key}" does not exist`);
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

  return {
    flagSet: set,
    timeDependent: JSON.stringify(set).includes('$flagd.timestamp'),
    evaluate,
    evaluateAll: (context) => Object.keys(set.flags).map((key) => evaluate(key, context)),
  };
}

function fail(
  key: string,
  metadata: FlagMetadata,
  errorCode: ResolutionErrorCode,
  errorDetails: string,
): FailedFlag {
  return { key, reason: 'ERROR', errorCode, errorDetails, metadata };
}
