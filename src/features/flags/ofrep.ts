// The OpenFeature Remote Evaluation Protocol (OFREP v1) as pure functions: request body in (the raw
// text, parsed here once), status and JSON body out. Routes mount them at POST
// /ofrep/v1/evaluate/flags/{key} and /ofrep/v1/evaluate/flags and send every body as application/json
// (the OFREP client refuses a 200 without that type).

import { createHash } from 'node:crypto';
import type { CodeDefaultFlag, FlagEvaluator, ResolvedFlag } from './flag-evaluator.ts';
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

/**
 * OFREP's codeDefaultFlag (ADR-0006): a success without `value`, so the client serves the default
 * written in the application's code. Rewind sends it for a disabled flag (reason DISABLED) and for a
 * flag without defaultVariant whose targeting fell through (reason DEFAULT), as flagd does.
 */
export interface OfrepCodeDefault {
  readonly key: string;
  readonly reason: 'DISABLED' | 'DEFAULT';
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
  /** Every flag of the set: disabled ones as OfrepCodeDefault, failed ones as OfrepFailure. */
  readonly flags: readonly (OfrepSuccess | OfrepCodeDefault | OfrepFailure)[];
  readonly metadata: FlagMetadata;
}

export type OfrepSingleResponse =
  | { readonly status: 200; readonly body: OfrepSuccess | OfrepCodeDefault }
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
  if ('codeDefault' in resolution) return { status: 200, body: codeDefault(resolution) };
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
  const flags: (OfrepSuccess | OfrepCodeDefault | OfrepFailure)[] = [];
  for (const resolution of evaluator.evaluateAll(context)) {
    if ('codeDefault' in resolution) flags.push(codeDefault(resolution));
    else if (resolution.reason === 'ERROR') {
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

function codeDefault(r: CodeDefaultFlag): OfrepCodeDefault {
  return { key: r.key, reason: r.reason, metadata: r.metadata };
}

function failure(key: string, errorCode: OfrepErrorCode, errorDetails: string): OfrepFailure {
  return { key, errorCode, errorDetails };
}

/**
 * The evaluation context from `{"context": {...}}`; a missing body or context is an empty one. A
 * string is the request's raw text and is parsed once: JSON that is not an object (a JSON string
 * holding an object, say) is INVALID_CONTEXT, never parsed a second time.
 */
function readContext(body: unknown): { readonly value: Context } | RequestProblem {
  let request = body;
  if (typeof body === 'string') {
    try {
      request = body.trim() === '' ? undefined : JSON.parse(body);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      return { errorCode: 'PARSE_ERROR', errorDetails: `the request body is not JSON: ${reason}` };
    }
    const poisoned = POISON.test(body) ? poisonedKey(request) : undefined;
    if (poisoned) {
      return {
        errorCode: 'INVALID_CONTEXT',
        errorDetails: `the request body holds the key "${poisoned}", which could reach an object's prototype; rename it`,
      };
    }
  }
  if (request === undefined) return { value: {} };
  if (!isObject(request)) {
    const kind = request === null ? 'null' : Array.isArray(request) ? 'an array' : `a JSON ${typeof request}`;
    return {
      errorCode: 'INVALID_CONTEXT',
      errorDetails: `the request body is ${kind}, not a JSON object; send {"context": {"targetingKey": "user-1"}}${typeof request === 'string' ? ' as the body itself, not encoded as a string' : ''}`,
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

/** Cheap first look: only bodies that mention one of these keys are walked. */
const POISON = /"(?:__proto__|constructor)"/;

/**
 * `__proto__`, or `constructor` holding `prototype`, anywhere in a parsed body: JSON.parse makes them
 * plain keys, but an Object.assign or spread downstream (flagd-core copies the context) would set a
 * prototype from them. Refused as Fastify's own JSON parser refuses them.
 */
function poisonedKey(value: unknown, depth = 0): string | undefined {
  if (typeof value !== 'object' || value === null || depth > 64) return undefined;
  for (const [key, v] of Object.entries(value)) {
    if (key === '__proto__') return key;
    if (key === 'constructor' && typeof v === 'object' && v !== null && Object.hasOwn(v, 'prototype')) {
      return 'constructor.prototype';
    }
    const inner = poisonedKey(v, depth + 1);
    if (inner) return inner;
  }
  return undefined;
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 16);
}

/** If-None-Match holds one or more entity tags, possibly weak (W/"..."); compared weakly, per RFC 9110. */
export function etagMatches(header: string, etag: string): boolean {
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
