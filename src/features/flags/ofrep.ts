// The OpenFeature Remote Evaluation Protocol (OFREP v1) as pure functions: request body in, status and
// JSON body out. Routes mount them at POST /ofrep/v1/evaluate/flags/{key} and /ofrep/v1/evaluate/flags
// and send every body as application/json (the OFREP client refuses a 200 without that type).

import { createHash } from 'node:crypto';
import type { FlagEvaluator, ResolvedFlag } from './flag-evaluator.ts';
import { canonicalJson, type FlagMetadata, type VariantValue } from './flag-set.ts';

export type OfrepErrorCode =
  | 'PARSE_ERROR'
  | 'TARGETING_KEY_MISSING'
  | 'INVALID_CONTEXT'
  | 'GENERAL'
  | 'FLAG_NOT_FOUND';

export interface OfrepSuccess {
  readonly key: string;
  readonly value: VariantValue;
  readonly reason: 'STATIC' | 'TARGETING_MATCH' | 'DEFAULT';
  readonly variant: string;
  readonly metadata: FlagMetadata;
}

export interface OfrepFailure {
  readonly key: string;
  readonly errorCode: OfrepErrorCode;
  readonly errorDetails: string;
}

export interface OfrepBulkFailure {
  readonly errorCode: OfrepErrorCode;
  readonly errorDetails: string;
}

export interface OfrepBulkBody {
  /** Disabled flags are left out, as flagd leaves them out; failed flags appear as OfrepFailure. */
  readonly flags: readonly (OfrepSuccess | OfrepFailure)[];
  readonly metadata: FlagMetadata;
}

export type OfrepSingleResponse =
  | { readonly status: 200; readonly body: OfrepSuccess }
  | { readonly status: 400 | 404; readonly body: OfrepFailure };

export type OfrepBulkResponse =
  | { readonly status: 200; readonly body: OfrepBulkBody; readonly etag: string }
  | { readonly status: 304; readonly etag: string }
  | { readonly status: 400; readonly body: OfrepBulkFailure };

type Context = Readonly<Record<string, unknown>>;
type RequestProblem = { readonly errorCode: OfrepErrorCode; readonly errorDetails: string };

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** POST /ofrep/v1/evaluate/flags/{key}: one flag for one context. */
export function ofrepEvaluateSingle(
  evaluator: FlagEvaluator,
  key: string,
  body: unknown,
): OfrepSingleResponse {
  const context = readContext(body);
  if ('errorCode' in context) return { status: 400, body: { key, ...context } };
  const resolution = evaluator.evaluate(key, context.value);
  if (resolution.reason === 'DISABLED') {
    // flagd's OFREP answer for a disabled flag: the client falls back to its code default.
    return { status: 404, body: failure(key, 'FLAG_NOT_FOUND', `flag \`${key}\` is disabled`) };
  }
  if (resolution.reason === 'ERROR') {
    const code = resolution.errorCode === 'TYPE_MISMATCH' ? 'GENERAL' : resolution.errorCode;
    return {
      status: code === 'FLAG_NOT_FOUND' ? 404 : 400,
      body: failure(key, code, resolution.errorDetails),
    };
  }
  return { status: 200, body: success(resolution) };
}

/**
 * POST /ofrep/v1/evaluate/flags: every enabled flag for one context. The ETag names the flag-set
 * version and the context (and, for rules reading $flagd.timestamp, the results), so a client that
 * sends it back as If-None-Match gets 304 until one of those changes.
 */
export function ofrepEvaluateBulk(
  evaluator: FlagEvaluator,
  version: number,
  body: unknown,
  ifNoneMatch?: string,
): OfrepBulkResponse {
  const context = readContext(body);
  if ('errorCode' in context) return { status: 400, body: context };
  const base = `${version}-${digest(canonicalJson(context.value))}`;
  let evaluated: OfrepBulkBody | undefined;
  let etag = `"${base}"`;
  if (evaluator.timeDependent) {
    evaluated = evaluateBulk(evaluator, context.value);
    etag = `"${base}-${digest(canonicalJson(evaluated))}"`;
  }
  if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, etag)) return { status: 304, etag };
  return { status: 200, body: evaluated ?? evaluateBulk(evaluator, context.value), etag };
}

function evaluateBulk(evaluator: FlagEvaluator, context: Context): OfrepBulkBody {
  const flags: (OfrepSuccess | OfrepFailure)[] = [];
  for (const resolution of evaluator.evaluateAll(context)) {
    if (resolution.reason === 'DISABLED') continue;
    if (resolution.reason === 'ERROR') {
      const code = resolution.errorCode === 'TYPE_MISMATCH' ? 'GENERAL' : resolution.errorCode;
      flags.push(failure(resolution.key, code, resolution.errorDetails));
    } else {
      flags.push(success(resolution));
    }
  }
  return { flags, metadata: evaluator.flagSet.metadata ?? {} };
}

function success(r: ResolvedFlag): OfrepSuccess {
  return { key: r.key, value: r.value, reason: r.reason, variant: r.variant, metadata: r.metadata };
}

function failure(key: string, errorCode: OfrepErrorCode, errorDetails: string): OfrepFailure {
  return { key, errorCode, errorDetails };
}

/** The evaluation context from `{"context": {...}}`; a missing body or context is an empty one. */
function readContext(body: unknown): { readonly value: Context } | RequestProblem {
  let request = body;
  if (typeof body === 'string') {
    try {
      request = body.trim() === '' ? undefined : JSON.parse(body);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      return { errorCode: 'PARSE_ERROR', errorDetails: `the request body is not JSON: ${reason}` };
    }
  }
  if (request === undefined) return { value: {} };
  if (!isObject(request)) {
    return {
      errorCode: 'PARSE_ERROR',
      errorDetails: 'the request body must be a JSON object like {"context": {"targetingKey": "user-1"}}',
    };
  }
  const context = request.context;
  if (context === undefined) return { value: {} };
  if (!isObject(context)) {
    return {
      errorCode: 'INVALID_CONTEXT',
      errorDetails: 'context must be a JSON object like {"targetingKey": "user-1"}',
    };
  }
  if (context.targetingKey !== undefined && typeof context.targetingKey !== 'string') {
    return { errorCode: 'INVALID_CONTEXT', errorDetails: 'context.targetingKey must be a string' };
  }
  return { value: context };
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 16);
}

/** If-None-Match holds one or more entity tags, possibly weak (W/"..."); compared weakly, per RFC 9110. */
export function etagMatches(header: string, etag: string): boolean {
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
