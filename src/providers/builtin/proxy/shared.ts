// Shared-memory layout of one app's counters. The main thread allocates one SharedArrayBuffer per
// app; every worker thread counts into it with Atomics (no message per request), the main thread
// reads it for metrics() and inflight().
//
// Layout (all 32-bit cells):
//   stamps   Uint32[RING]                  unix second held by each ring bucket
//   inflight Int32[SLOTS]                  requests in flight per revision slot
//   counters Int32[RING * SLOTS * FIELDS]  per bucket, per slot: requests, 5xx, connectFailures, latency[]

import { LATENCY_BOUNDS_MS, type MetricsBucket, type RevisionCounters } from './types.ts';

/** Seconds kept in the ring: 120 complete seconds plus the current one plus headroom for pre-clearing. */
export const RING = 128;
/** Revisions an app can count at once (slots are recycled for revisions that left the table). */
export const SLOTS = 16;
export const F_REQUESTS = 0;
export const F_5XX = 1;
export const F_CONNECT_FAILURES = 2;
export const F_LATENCY = 3;
export const LATENCY_BUCKETS = LATENCY_BOUNDS_MS.length + 1;
export const FIELDS = F_LATENCY + LATENCY_BUCKETS;
export const HISTORY_SECONDS = 120;

const STAMPS_BYTES = RING * 4;
const INFLIGHT_BYTES = SLOTS * 4;
const COUNTERS_CELLS = RING * SLOTS * FIELDS;

export interface SharedViews {
  readonly stamps: Uint32Array;
  readonly inflight: Int32Array;
  readonly counters: Int32Array;
}

export function allocateShared(): SharedArrayBuffer {
  return new SharedArrayBuffer(STAMPS_BYTES + INFLIGHT_BYTES + COUNTERS_CELLS * 4);
}

export function viewsOf(sab: SharedArrayBuffer): SharedViews {
  return {
    stamps: new Uint32Array(sab, 0, RING),
    inflight: new Int32Array(sab, STAMPS_BYTES, SLOTS),
    counters: new Int32Array(sab, STAMPS_BYTES + INFLIGHT_BYTES, COUNTERS_CELLS),
  };
}

export function nowSecond(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * Make bucket `second` current: if its stamp is older, whoever wins the compare-exchange zeroes it.
 * The main thread calls this ahead of time for the next seconds, so workers normally never do.
 */
export function claimBucket(v: SharedViews, second: number): void {
  const idx = second % RING;
  const old = Atomics.load(v.stamps, idx);
  if (old === second) return;
  if (Atomics.compareExchange(v.stamps, idx, old, second) !== old) return;
  const start = idx * SLOTS * FIELDS;
  v.counters.fill(0, start, start + SLOTS * FIELDS);
}

export function latencyBucket(ms: number): number {
  const b = LATENCY_BOUNDS_MS;
  // Binary search over 22 bounds: first bound >= ms.
  let lo = 0;
  let hi: number = b.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ms <= (b[mid] as number)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Hot path: count one finished request. */
export function record(v: SharedViews, slot: number, status: number, latencyMs: number): void {
  const second = Math.floor(Date.now() / 1000);
  const idx = second % RING;
  if (Atomics.load(v.stamps, idx) !== second) claimBucket(v, second);
  const base = (idx * SLOTS + slot) * FIELDS;
  const c = v.counters;
  Atomics.add(c, base + F_REQUESTS, 1);
  if (status >= 500) Atomics.add(c, base + F_5XX, 1);
  Atomics.add(c, base + F_LATENCY + latencyBucket(latencyMs), 1);
}

export function recordConnectFailure(v: SharedViews, slot: number): void {
  const second = Math.floor(Date.now() / 1000);
  const idx = second % RING;
  if (Atomics.load(v.stamps, idx) !== second) claimBucket(v, second);
  Atomics.add(v.counters, (idx * SLOTS + slot) * FIELDS + F_CONNECT_FAILURES, 1);
}

/** Zero every bucket of one slot (when the slot is given to another revision). */
export function clearSlot(v: SharedViews, slot: number): void {
  for (let i = 0; i < RING; i++) {
    const base = (i * SLOTS + slot) * FIELDS;
    v.counters.fill(0, base, base + FIELDS);
  }
  Atomics.store(v.inflight, slot, 0);
}

/**
 * Complete buckets from `sinceSecond` (inclusive) to the last complete second, oldest first.
 * `revisions` maps slot -> revision (undefined: unused slot); `always` lists revisions reported even
 * when idle (the ones in the current table).
 */
export function readBuckets(
  v: SharedViews,
  revisions: readonly (number | undefined)[],
  always: ReadonlySet<number>,
  sinceSecond: number,
  firstSecond: number,
  now: number,
): MetricsBucket[] {
  const out: MetricsBucket[] = [];
  const from = Math.max(Math.floor(sinceSecond), now - HISTORY_SECONDS, firstSecond);
  for (let s = from; s < now; s++) {
    const idx = s % RING;
    const valid = Atomics.load(v.stamps, idx) === s;
    const revs: RevisionCounters[] = [];
    for (let slot = 0; slot < SLOTS; slot++) {
      const revision = revisions[slot];
      if (revision === undefined) continue;
      const base = (idx * SLOTS + slot) * FIELDS;
      const requests = valid ? Atomics.load(v.counters, base + F_REQUESTS) : 0;
      const errors5xx = valid ? Atomics.load(v.counters, base + F_5XX) : 0;
      const connectFailures = valid ? Atomics.load(v.counters, base + F_CONNECT_FAILURES) : 0;
      if (requests === 0 && errors5xx === 0 && connectFailures === 0 && !always.has(revision)) continue;
      const latency: number[] = new Array(LATENCY_BUCKETS);
      for (let i = 0; i < LATENCY_BUCKETS; i++) {
        latency[i] = valid ? Atomics.load(v.counters, base + F_LATENCY + i) : 0;
      }
      revs.push({ revision, requests, errors5xx, connectFailures, latency });
    }
    revs.sort((a, b) => a.revision - b.revision);
    out.push({ second: s, revisions: revs });
  }
  return out;
}
