// Routing decisions: compiled once per table (per worker), then read-only on the hot path.

import { timingSafeEqual } from 'node:crypto';
import { DEFAULT_LIMITS, type HeadLimits } from './http-head.ts';
import { DEFAULT_TRUSTED_SOURCES, trustedMatcher } from './trusted-sources.ts';
import type { RouteTable } from './types.ts';

export interface CompiledBackend<P> {
  readonly revision: number;
  readonly slot: number;
  readonly weight: number;
  readonly pools: readonly P[];
  /** Round-robin cursor over pools (per worker, mutable). */
  rr: number;
}

export interface CompiledRoute<P> {
  readonly version: number;
  /** Backends with weight > 0 and at least one upstream, ordered by revision (stable for stickiness). */
  readonly eligible: readonly CompiledBackend<P>[];
  /** Cumulative weights of `eligible`. */
  readonly cumulative: readonly number[];
  readonly total: number;
  /** Every backend with at least one upstream, by revision (force header, retries). */
  readonly byRevision: ReadonlyMap<number, CompiledBackend<P>>;
  /** Lower-cased header names, '' when not configured. */
  readonly stickyHeader: string;
  readonly stickyCookie: string;
  readonly forceHeader: string;
  /** May this client address use the force header without the secret? */
  readonly trusted: (ip: string) => boolean;
  /** '' when not configured. */
  readonly forceSecret: string;
  readonly limits: HeadLimits;
  /** Maintenance mode's answers, built once per table; null when off. */
  readonly maintenance: MaintenanceAnswers | null;
}

/** The 503 of maintenance mode, ready to write: keep-alive or closing, with or without its page. */
export interface MaintenanceAnswers {
  readonly keepAlive: Buffer;
  /** When the request's body is still coming: answer, then close. */
  readonly close: Buffer;
  /** HEAD: the head alone. */
  readonly head: Buffer;
  readonly headClose: Buffer;
}

export function maintenanceAnswers(m: NonNullable<RouteTable['maintenance']>): MaintenanceAnswers {
  const body = Buffer.from(m.page, 'utf8');
  const head = (close: boolean) =>
    Buffer.from(
      'HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html; charset=utf-8\r\n' +
        `content-length: ${body.length}\r\nretry-after: ${m.retryAfterSeconds}\r\ncache-control: no-store\r\n` +
        `${close ? 'connection: close\r\n' : ''}\r\n`,
      'latin1',
    );
  return {
    keepAlive: Buffer.concat([head(false), body]),
    close: Buffer.concat([head(true), body]),
    head: head(false),
    headClose: head(true),
  };
}

export function compileRoute<P>(
  table: RouteTable,
  slotOf: ReadonlyMap<number, number>,
  poolFor: (host: string, port: number) => P,
): CompiledRoute<P> {
  const byRevision = new Map<number, CompiledBackend<P>>();
  const eligible: CompiledBackend<P>[] = [];
  const sorted = [...table.backends].sort((a, b) => a.revision - b.revision);
  for (const b of sorted) {
    if (b.upstreams.length === 0) continue;
    const slot = slotOf.get(b.revision);
    if (slot === undefined) throw new Error(`no counter slot for revision ${b.revision}`);
    const cb: CompiledBackend<P> = {
      revision: b.revision,
      slot,
      weight: b.weight,
      pools: b.upstreams.map((u) => poolFor(u.host, u.port)),
      rr: 0,
    };
    byRevision.set(b.revision, cb);
    if (b.weight > 0) eligible.push(cb);
  }
  const cumulative: number[] = [];
  let total = 0;
  for (const b of eligible) {
    total += b.weight;
    cumulative.push(total);
  }
  return {
    version: table.version,
    eligible,
    cumulative,
    total,
    byRevision,
    stickyHeader: (table.stickyHeader ?? '').toLowerCase(),
    stickyCookie: table.stickyCookie ?? '',
    forceHeader: table.forceHeader.toLowerCase(),
    trusted: trustedMatcher(table.trustedSources ?? DEFAULT_TRUSTED_SOURCES),
    forceSecret: table.forceSecret ?? '',
    limits: table.limits ?? DEFAULT_LIMITS,
    maintenance: table.maintenance ? maintenanceAnswers(table.maintenance) : null,
  };
}

/** FNV-1a, 32-bit, over the string's UTF-16 code units (header values are latin1 strings). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Final avalanche so that similar keys spread over the whole range.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/**
 * Weighted choice. With a sticky key, the key's hash is a fixed point in [0, 1) mapped onto the
 * cumulative weights (ordered by revision): the same key keeps its revision while weights are
 * unchanged, and as weight moves from one revision to the next only the keys in the moved share move.
 */
export function pickBackend<P>(
  route: CompiledRoute<P>,
  stickyKey: string | undefined,
): CompiledBackend<P> | undefined {
  const eligible = route.eligible;
  const n = eligible.length;
  if (n <= 1) return eligible[0];
  const point = (stickyKey === undefined ? Math.random() : fnv1a(stickyKey) / 4294967296) * route.total;
  const cum = route.cumulative;
  for (let i = 0; i < n - 1; i++) {
    if (point < (cum[i] as number)) return eligible[i];
  }
  return eligible[n - 1];
}

/** A backend other than `exclude` for a retry, by weight; falls back to any backend with upstreams. */
export function pickOther<P>(
  route: CompiledRoute<P>,
  exclude: CompiledBackend<P>,
): CompiledBackend<P> | undefined {
  let total = 0;
  for (const b of route.eligible) if (b !== exclude && b.revision !== exclude.revision) total += b.weight;
  if (total > 0) {
    let point = Math.random() * total;
    for (const b of route.eligible) {
      if (b === exclude || b.revision === exclude.revision) continue;
      point -= b.weight;
      if (point < 0) return b;
    }
  }
  return undefined;
}

/** Value of cookie `name` in a Cookie header, or undefined. */
export function cookieValue(header: string, name: string): string | undefined {
  let from = 0;
  for (;;) {
    const i = header.indexOf(name, from);
    if (i < 0) return undefined;
    const eq = i + name.length;
    const before = i === 0 ? 32 : header.charCodeAt(i - 1);
    if (header.charCodeAt(eq) === 61 && (i === 0 || before === 32 || before === 59 || before === 9)) {
      let end = header.indexOf(';', eq + 1);
      if (end < 0) end = header.length;
      const v = header.slice(eq + 1, end).trim();
      return v.length > 0 ? v : undefined;
    }
    from = i + 1;
  }
}

/**
 * The revision a force header's value asks for, or undefined when it may not force: "<revision>"
 * from a trusted source, "<revision>:<secret>" from anywhere when a secret is configured.
 */
export function forcedRevision<P>(route: CompiledRoute<P>, value: string, ip: string): number | undefined {
  const colon = value.indexOf(':');
  const text = colon < 0 ? value : value.slice(0, colon);
  const revision = Number(text);
  if (text === '' || !Number.isInteger(revision)) return undefined;
  if (route.trusted(ip)) return revision;
  const secret = route.forceSecret;
  if (secret === '' || colon < 0) return undefined;
  const given = Buffer.from(value.slice(colon + 1), 'latin1');
  const want = Buffer.from(secret, 'latin1');
  return given.length === want.length && timingSafeEqual(given, want) ? revision : undefined;
}
