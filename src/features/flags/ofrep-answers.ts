// OFREP answers of one app's flag-set version, ready to write to a socket: status, ETag and the JSON
// text. The semantics stay in the pure functions of ofrep.ts; this adds what a server answering
// thousands of requests a second wants on top of them: the evaluator built once per version, and
// for the bulk endpoint a cache keyed by the exact request body, so that a client polling with
// If-None-Match gets its 304 from one map lookup (no JSON parse, no hash, no evaluation) and a
// repeated context gets the body serialized once.
import type { FlagEvaluator } from './flag-evaluator.ts';
import { createFlagEvaluator } from './flag-evaluator.ts';
import type { FlagSet } from './flag-set.ts';
import { etagMatches, ofrepEvaluateBulk, ofrepEvaluateSingle } from './ofrep.ts';

export interface OfrepReply {
  readonly status: number;
  readonly etag?: string;
  /** JSON text; absent for a 304. */
  readonly body?: string;
}

/** Distinct request bodies remembered per version: a fleet of apps sends a handful of contexts. */
const BULK_CACHE_ENTRIES = 1000;
/** Bodies longer than this are answered, not remembered (the key would cost more than it saves). */
const BULK_CACHE_MAX_BODY = 4096;

interface BulkEntry {
  readonly notModified: OfrepReply;
  /** Set once a 200 was computed for this body. */
  ok?: OfrepReply;
}

export class OfrepAnswers {
  readonly version: number;
  readonly evaluator: FlagEvaluator;
  readonly #bulk = new Map<string, BulkEntry>();

  /** `previous`: the answers in force, whose unchanged flags are taken over rather than parsed again. */
  constructor(version: number, set: FlagSet, previous?: OfrepAnswers) {
    this.version = version;
    this.evaluator = createFlagEvaluator(set, previous?.evaluator);
  }

  /** POST .../evaluate/flags/{key}; `body` is the request body as received. */
  single(key: string, body: string): OfrepReply {
    const r = ofrepEvaluateSingle(this.evaluator, key, body);
    return { status: r.status, body: JSON.stringify(r.body) };
  }

  /** POST .../evaluate/flags. Rules on $flagd.timestamp change without a new version: never cached. */
  bulk(body: string, ifNoneMatch: string | undefined): OfrepReply {
    const cacheable = !this.evaluator.timeDependent && body.length <= BULK_CACHE_MAX_BODY;
    const hit = cacheable ? this.#bulk.get(body) : undefined;
    if (hit) {
      const etag = hit.notModified.etag!;
      if (ifNoneMatch !== undefined && (ifNoneMatch === etag || etagMatches(ifNoneMatch, etag)))
        return hit.notModified;
      if (hit.ok) return hit.ok;
    }
    const r = ofrepEvaluateBulk(this.evaluator, this.version, body, ifNoneMatch);
    if (r.status === 400) return { status: 400, body: JSON.stringify(r.body) };
    const reply: OfrepReply =
      r.status === 304
        ? { status: 304, etag: r.etag }
        : { status: 200, etag: r.etag, body: JSON.stringify(r.body) };
    if (cacheable) {
      if (this.#bulk.size >= BULK_CACHE_ENTRIES && !hit) this.#bulk.clear();
      const entry = hit ?? { notModified: { status: 304, etag: r.etag } };
      if (reply.status === 200) entry.ok = reply;
      this.#bulk.set(body, entry);
    }
    return reply;
  }
}

/**
 * The OFREP error body of a request refused before evaluation (no token, unknown app, body too
 * large...): the protocol's shape, so a client reads the reason instead of a malformed response.
 */
export function ofrepErrorReply(status: number, message: string, key?: string): OfrepReply {
  const errorCode = status === 404 ? 'FLAG_NOT_FOUND' : status === 400 ? 'PARSE_ERROR' : 'GENERAL';
  // A single-flag error without `key` is a malformed response to the OFREP provider.
  const body =
    key === undefined ? { errorCode, errorDetails: message } : { key, errorCode, errorDetails: message };
  return { status, body: JSON.stringify(body) };
}
