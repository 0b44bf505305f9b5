// The hot path: a lean HTTP/1.1 reverse proxy on raw `net` sockets. One instance per worker thread.
//
// Per client connection, one request at a time (pipelined requests wait in a buffer). The request
// head is parsed just enough for routing and framing, rewritten only to add x-forwarded-for and drop
// hop-by-hop headers, then written to a pooled keep-alive upstream socket. The response head is
// parsed for status and framing; head and body bytes are passed through unchanged (zero copy) and
// the upstream socket goes back to its pool when the message ends.

import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { CHUNKED_ERROR, ChunkScanner } from './chunked.ts';
import {
  DEFAULT_LIMITS,
  eqLower,
  F_CONNECTION,
  F_HOP,
  F_OTHER,
  F_UPGRADE,
  F_XFF,
  HEAD_INCOMPLETE,
  HEAD_INVALID,
  Head,
  type HeadLimits,
  listTokens,
} from './http-head.ts';
import {
  type CompiledBackend,
  type CompiledRoute,
  cookieValue,
  forcedRevision,
  pickBackend,
  pickOther,
} from './routing.ts';
import { record, recordConnectFailure, type SharedViews } from './shared.ts';
import type { ProxyTimeouts } from './types.ts';

/** Upstream response heads: one 64 KB bound for the status line, each field and the whole head. */
const RESPONSE_LIMITS: HeadLimits = { requestLine: 65536, headerLine: 65536, head: 65536 };

/** Buffer's undocumented direct latin1 decoder (skips toString's encoding dispatch). */
interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}
function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as Latin1Slicer).latin1Slice(start, end);
}
/** Idle pooled upstream sockets are closed after this (below node's default 5 s keepAliveTimeout). */
export const POOL_IDLE_MS = 4000;
const MAX_IDLE_PER_POOL = 512;
/**
 * Timeouts are checked by the engine's sweep every TICK_MS, not by a timer per request: a timeout
 * of T fires between T and T + 2 ticks after the last progress (never before T).
 */
export const TICK_MS = 250;

function staticResponse(
  status: number,
  reason: string,
  close: boolean,
  extra = '',
  body = `${reason}\n`,
): Buffer {
  return Buffer.from(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n` +
      `${close ? 'connection: close\r\n' : ''}${extra}\r\n${body}`,
    'latin1',
  );
}
const RESP_400 = staticResponse(400, 'Bad Request', true);
const RESP_414 = staticResponse(414, 'URI Too Long', true);
const RESP_431 = staticResponse(431, 'Request Header Fields Too Large', true);
const RESP_501 = staticResponse(501, 'Not Implemented', true);
const RESP_505 = staticResponse(505, 'HTTP Version Not Supported', true);
const RESP_502 = staticResponse(502, 'Bad Gateway', false);
const RESP_502_CLOSE = staticResponse(502, 'Bad Gateway', true);
const RESP_503 = staticResponse(503, 'Service Unavailable', false);
const RESP_503_CLOSE = staticResponse(503, 'Service Unavailable', true);
const RESP_503_BUSY = staticResponse(
  503,
  'Service Unavailable',
  true,
  'retry-after: 1\r\n',
  'Too many connections to this app; retry later\n',
);
const RESP_504 = staticResponse(504, 'Gateway Timeout', false);
const RESP_504_CLOSE = staticResponse(504, 'Gateway Timeout', true);
const RESP_408 = staticResponse(408, 'Request Timeout', true);

/** Methods a request may be re-sent with after a stale keep-alive socket failed (RFC 9110 9.2.2). */
function idempotent(head: string): boolean {
  switch (head.charCodeAt(0)) {
    case 71: // GET
      return head.startsWith('GET ');
    case 72: // HEAD
      return head.startsWith('HEAD ');
    case 79: // OPTIONS
      return head.startsWith('OPTIONS ');
    case 80: // PUT
      return head.startsWith('PUT ');
    case 68: // DELETE
      return head.startsWith('DELETE ');
    case 84: // TRACE
      return head.startsWith('TRACE ');
    default:
      return false;
  }
}

// What a connection waits for, as seen by the sweep (see ClientConn.tick).
const W_NONE = 0;
const W_IDLE = 1; // keep-alive, no request
const W_HEADER = 2; // the rest of a request head
const W_BODY = 3; // the rest of a request body
const W_CONNECT = 4; // an upstream connection
const W_RESPONSE = 5; // the upstream's response (head, next read, or reading our request body)
const W_SEND = 6; // a peer to read what we wrote

function rejection(status: number): Buffer {
  switch (status) {
    case 414:
      return RESP_414;
    case 431:
      return RESP_431;
    case 501:
      return RESP_501;
    case 505:
      return RESP_505;
    default:
      return RESP_400;
  }
}

// ----------------------------------------------------------------------------------------------
// Upstream pools

export class Pool {
  readonly host: string;
  readonly port: number;
  readonly idle: UpConn[] = [];
  open = 0;

  constructor(host: string, port: number) {
    this.host = host;
    this.port = port;
  }

  acquire(): UpConn {
    for (;;) {
      const up = this.idle.pop();
      if (up === undefined) return new UpConn(this);
      if (!up.gotEnd && !up.socket.destroyed) return up;
    }
  }

  release(up: UpConn, now: number): void {
    up.owner = null;
    up.reused = true;
    up.idleSince = now;
    if (up.socket.isPaused()) up.socket.resume();
    if (this.idle.length >= MAX_IDLE_PER_POOL) {
      up.socket.destroy();
      return;
    }
    this.idle.push(up);
  }

  removeIdle(up: UpConn): void {
    const i = this.idle.indexOf(up);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** Close idle sockets older than `maxIdleMs` (oldest are at the front). */
  sweep(now: number, maxIdleMs: number): void {
    const idle = this.idle;
    let n = 0;
    while (n < idle.length && now - (idle[n] as UpConn).idleSince > maxIdleMs) n++;
    if (n === 0) return;
    const old = idle.splice(0, n);
    for (const up of old) up.socket.destroy();
  }

  closeAll(): void {
    const old = this.idle.splice(0);
    for (const up of old) up.socket.destroy();
  }
}

export class UpConn {
  readonly pool: Pool;
  readonly socket: net.Socket;
  owner: ClientConn | null = null;
  connected = false;
  /** Has served a request before: a failure with no response byte may be the keep-alive race. */
  reused = false;
  gotEnd = false;
  idleSince = 0;

  constructor(pool: Pool) {
    this.pool = pool;
    pool.open++;
    // The connect timeout is the owner's (per app), checked by the sweep.
    const s = net.connect({ host: pool.host, port: pool.port, noDelay: true });
    this.socket = s;
    s.on('connect', () => {
      this.connected = true;
      const o = this.owner;
      if (o !== null) o.onUpConnect();
    });
    s.on('data', (chunk: Buffer) => {
      const o = this.owner;
      if (o !== null) o.onUpData(chunk);
      else s.destroy(); // bytes on an idle socket: protocol violation
    });
    s.on('drain', () => {
      const o = this.owner;
      if (o !== null) o.onUpDrain();
    });
    s.on('end', () => {
      this.gotEnd = true;
      if (this.owner === null) this.pool.removeIdle(this);
    });
    s.on('error', () => {
      // 'close' follows and carries the consequences.
    });
    s.on('close', () => {
      this.pool.open--;
      const o = this.owner;
      if (o === null) {
        this.pool.removeIdle(this);
        return;
      }
      this.owner = null;
      o.onUpClose(this);
    });
  }
}

// ----------------------------------------------------------------------------------------------
// Apps

export interface AppRuntime {
  readonly name: string;
  route: CompiledRoute<Pool> | null;
  readonly shared: SharedViews;
  readonly conns: Set<ClientConn>;
  timeouts: ProxyTimeouts;
  /** Client connections of this app on this worker beyond which new ones get 503. */
  maxConnections: number;
  server: net.Server | null;
  closing: boolean;
}

// Client connection phases.
const P_IDLE = 0; // waiting for (the rest of) a request head
const P_BODY = 1; // exchange in flight, request body still streaming
const P_WAIT = 2; // exchange in flight, request fully sent
const P_TUNNEL = 3; // after 101 Switching Protocols
const P_CLOSED = 4;

// Body framing modes.
const M_NONE = 0;
const M_LENGTH = 1;
const M_CHUNKED = 2;
const M_CLOSE = 3;
const M_HEAD = 4; // response: head not parsed yet
const M_TUNNEL = 5;

/**
 * The field lines of a head to forward, without the hop-by-hop ones (RFC 9110 7.6.1): Connection,
 * Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade (kept when upgrading), Proxy-Authorization,
 * Proxy-Authenticate and every field named in Connection, nor `dropName` (the force header).
 * Framing fields (Content-Length, Transfer-Encoding, Host) always stay: the body is forwarded as
 * framed. With `mergeXff`, x-forwarded-for fields are taken out and their values joined in `xff`.
 */
function forwardedFields(
  b: Buffer,
  h: Head,
  dropName: string,
  mergeXff: boolean,
): { fields: string; xff: string } {
  const named = h.connectionNames ? connectionNamed(b, h) : null;
  const f = h.fields;
  let out = '';
  let xff = '';
  for (let i = 0; i < h.count * 6; i += 6) {
    const kind = f[i] as number;
    const ns = f[i + 1] as number;
    const colon = f[i + 2] as number;
    if (kind === F_CONNECTION || kind === F_UPGRADE) {
      if (!h.upgrade) continue;
      if (kind === F_CONNECTION) {
        out += 'connection: upgrade\r\n';
        continue;
      }
    } else if (kind === F_HOP) continue;
    else if (kind === F_XFF && mergeXff) {
      const v = latin1(b, f[i + 3] as number, f[i + 4] as number);
      xff = xff === '' ? v : `${xff}, ${v}`;
      continue;
    } else if (kind === F_OTHER) {
      if (colon - ns === dropName.length && eqLower(b, ns, dropName)) continue;
      if (named?.has(latin1(b, ns, colon).toLowerCase())) continue;
    }
    out += latin1(b, ns, f[i + 5] as number);
  }
  return { fields: out, xff };
}

/** Field names listed in Connection (beyond its own options). */
function connectionNamed(b: Buffer, h: Head): Set<string> {
  const names = new Set<string>();
  const f = h.fields;
  for (let i = 0; i < h.count * 6; i += 6) {
    if (f[i] === F_CONNECTION)
      for (const t of listTokens(b, f[i + 3] as number, f[i + 4] as number)) names.add(t);
  }
  return names;
}

export class ClientConn {
  readonly app: AppRuntime;
  readonly socket: net.Socket;
  /** "x-forwarded-for: <ip>\r\n\r\n", built once per connection. */
  readonly xffTail: string;
  readonly ip: string;
  phase = P_IDLE;
  buf: Buffer | null = null;
  paused = false;
  closeAfter = false;
  /** Waiting for 'drain' on the client socket before reading the next request. */
  drainWait = false;
  /**
   * Bumped (a plain increment, no clock read on the hot path) on every step forward: a request
   * dispatched or done, body bytes either way, a drain. The sweep compares it with what it saw.
   */
  moves = 0;
  waitKind = W_NONE;
  waitMoves = 0;
  /** When the sweep first saw the current (waitKind, waitMoves). */
  waitSince = 0;

  // Request
  readonly head = new Head();
  isHead = false;
  reqMode = M_NONE;
  reqRemaining = 0;
  readonly reqChunks = new ChunkScanner();
  outHead = '';
  outBody: Buffer | null = null;
  bodyStreamed = false;

  // Exchange
  backend: CompiledBackend<Pool> | null = null;
  pool: Pool | null = null;
  pinned = false;
  connectRetries = 0;
  staleRetries = 0;
  up: UpConn | null = null;
  upPaused = false;
  start = 0;

  // Response
  readonly respHead = new Head();
  respMode = M_HEAD;
  respBuf: Buffer | null = null;
  respRemaining = 0;
  readonly respChunks = new ChunkScanner();
  status = 0;
  headSent = false;
  respBytes = 0;
  upKeepAlive = true;

  constructor(app: AppRuntime, socket: net.Socket) {
    this.app = app;
    this.socket = socket;
    const ip = socket.remoteAddress ?? '';
    this.ip = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
    this.xffTail = `x-forwarded-for: ${this.ip}\r\n\r\n`;
    app.conns.add(this);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      this.moves++;
      if (this.upPaused) {
        this.upPaused = false;
        const up = this.up;
        if (up !== null) up.socket.resume();
      }
      if (this.drainWait) {
        this.drainWait = false;
        this.afterExchange();
      }
    });
    socket.on('end', () => {
      // A FIN while a request is in flight is treated as an abort (like nginx's 499).
      if (this.backend !== null) socket.destroy();
      else if (this.phase === P_TUNNEL) this.up?.socket.end();
    });
    socket.on('error', () => {});
    socket.on('close', () => this.onClose());
  }

  private pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private resume(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  onData(chunk: Buffer): void {
    switch (this.phase) {
      case P_IDLE:
        this.buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
        this.processHead();
        return;
      case P_BODY:
        this.forwardBody(chunk);
        return;
      case P_WAIT:
        // Pipelined request: keep it until the current response is done.
        this.buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
        this.pause();
        return;
      case P_TUNNEL: {
        const up = this.up;
        if (up !== null && !up.socket.write(chunk)) this.pause();
        return;
      }
    }
  }

  private reject(resp: Buffer): void {
    this.buf = null;
    this.phase = P_CLOSED;
    this.socket.end(resp);
  }

  private processHead(): void {
    let buf = this.buf as Buffer;
    // Tolerate empty lines before a request line (RFC 9112 2.2), CRLF only.
    let skip = 0;
    while (skip + 1 < buf.length && buf[skip] === 13 && buf[skip + 1] === 10) skip += 2;
    if (skip > 0) {
      buf = buf.subarray(skip);
      this.buf = buf.length > 0 ? buf : null;
      if (buf.length === 0) return;
    }
    if (buf.length === 1 && buf[0] === 13) return;
    const route = this.app.route;
    const h = this.head;
    const he = h.parse(buf, 0, true, route === null ? DEFAULT_LIMITS : route.limits);
    if (he === HEAD_INCOMPLETE) return;
    if (he === HEAD_INVALID) {
      this.reject(rejection(h.status));
      return;
    }
    this.isHead = h.isHead;

    // Routing fields: the sticky header or cookie, and the force header (always stripped).
    const stickyName = route === null ? '' : route.stickyHeader;
    const cookieName = route === null ? '' : route.stickyCookie;
    const forceName = route === null ? '' : route.forceHeader;
    let stickyVal: string | undefined;
    let cookieHeader: string | undefined;
    let forceVal: string | undefined;
    const f = h.fields;
    const n6 = h.count * 6;
    for (let i = 0; i < n6; i += 6) {
      if (f[i] !== F_OTHER) continue;
      const ns = f[i + 1] as number;
      const nl = (f[i + 2] as number) - ns;
      if (nl === forceName.length && eqLower(buf, ns, forceName)) {
        forceVal = latin1(buf, f[i + 3] as number, f[i + 4] as number);
      } else if (nl === stickyName.length && nl > 0 && eqLower(buf, ns, stickyName)) {
        stickyVal = latin1(buf, f[i + 3] as number, f[i + 4] as number);
      } else if (nl === 6 && cookieName.length > 0 && eqLower(buf, ns, 'cookie')) {
        const v = latin1(buf, f[i + 3] as number, f[i + 4] as number);
        cookieHeader = cookieHeader === undefined ? v : `${cookieHeader}; ${v}`;
      }
    }

    // Outgoing head: zero rewriting unless something must go or change.
    if (!h.hop && forceVal === undefined && !h.http10 && h.authorityStart < 0) {
      this.outHead = latin1(buf, 0, he - 2) + this.xffTail;
    } else {
      this.outHead = this.rewriteRequestHead(buf, forceName);
    }
    this.closeAfter = h.close;

    // Body framing and the part of it already here.
    let rest: Buffer | null = he < buf.length ? buf.subarray(he) : null;
    let body: Buffer | null = null;
    let complete = true;
    if (h.chunked) {
      this.reqMode = M_CHUNKED;
      this.reqChunks.reset();
      complete = false;
      if (rest !== null) {
        const e = this.reqChunks.scan(rest, 0);
        if (e === CHUNKED_ERROR) {
          this.reject(RESP_400);
          return;
        }
        if (e >= 0) {
          complete = true;
          body = rest.subarray(0, e);
          rest = e < rest.length ? rest.subarray(e) : null;
        } else {
          body = rest;
          rest = null;
        }
      }
    } else if (h.contentLength > 0) {
      const contentLength = h.contentLength;
      this.reqMode = M_LENGTH;
      if (rest !== null) {
        const n = Math.min(rest.length, contentLength);
        body = n === rest.length ? rest : rest.subarray(0, n);
        rest = n < rest.length ? rest.subarray(n) : null;
        this.reqRemaining = contentLength - n;
      } else {
        this.reqRemaining = contentLength;
      }
      complete = this.reqRemaining === 0;
    } else {
      this.reqMode = M_NONE;
    }
    this.outBody = body;
    this.bodyStreamed = false;
    this.buf = rest;
    if (rest !== null) this.pause();
    this.phase = complete ? P_WAIT : P_BODY;

    // Route.
    let be: CompiledBackend<Pool> | undefined;
    this.pinned = false;
    if (route !== null) {
      if (forceVal !== undefined) {
        const revision = forcedRevision(route, forceVal, this.ip);
        if (revision !== undefined) be = route.byRevision.get(revision);
        if (be !== undefined) this.pinned = true;
      }
      if (be === undefined && route.maintenance !== null) {
        const m = route.maintenance;
        this.answerHere(this.isHead ? m.head : m.keepAlive, this.isHead ? m.headClose : m.close);
        return;
      }
      if (be === undefined) {
        let key = stickyVal;
        if (key === undefined && cookieHeader !== undefined) key = cookieValue(cookieHeader, cookieName);
        be = pickBackend(route, key);
      }
    }
    if (be === undefined) {
      this.answerHere(RESP_503, RESP_503_CLOSE);
      return;
    }
    this.backend = be;
    Atomics.add(this.app.shared.inflight, be.slot, 1);
    this.connectRetries = 0;
    this.staleRetries = 0;
    this.start = performance.now();
    const pools = be.pools;
    const pool = pools[be.rr] as Pool;
    be.rr = be.rr + 1 >= pools.length ? 0 : be.rr + 1;
    this.dispatch(pool, false);
  }

  /**
   * Answer the request from here, with no upstream: `keepAlive` when its body has arrived whole,
   * else `close` (the rest of the body is not waited for).
   */
  private answerHere(keepAlive: Buffer, close: Buffer): void {
    this.outHead = '';
    this.outBody = null;
    if (this.phase === P_BODY) {
      this.phase = P_CLOSED;
      this.socket.end(close);
      return;
    }
    this.phase = P_IDLE;
    this.socket.write(keepAlive);
    this.afterExchange();
  }

  private rewriteRequestHead(buf: Buffer, dropName: string): string {
    const h = this.head;
    let out: string;
    if (h.authorityStart >= 0) {
      // Absolute-form -> origin-form; Host was checked against the authority, or comes from it.
      const path = latin1(buf, h.pathStart, h.targetEnd);
      out = `${latin1(buf, 0, h.targetStart)}${path.startsWith('/') ? path : `/${path}`}${latin1(buf, h.targetEnd, h.lineEnd + 2)}`;
      if (h.host < 0) out += `host: ${latin1(buf, h.authorityStart, h.authorityEnd)}\r\n`;
    } else {
      out = latin1(buf, 0, h.lineEnd + 2);
    }
    // Keep the upstream connection reusable whatever the client's version.
    if (h.http10 && !h.upgrade) out += 'connection: keep-alive\r\n';
    const kept = forwardedFields(buf, h, dropName, true);
    out += kept.fields;
    return kept.xff === '' ? out + this.xffTail : `${out}x-forwarded-for: ${kept.xff}, ${this.ip}\r\n\r\n`;
  }

  /** Send the request (head + body part held) to `pool`, on a fresh connection when `fresh`. */
  private dispatch(pool: Pool, fresh: boolean): void {
    const up = fresh ? new UpConn(pool) : pool.acquire();
    up.owner = this;
    this.up = up;
    this.pool = pool;
    this.upPaused = false;
    this.respMode = M_HEAD;
    this.respBuf = null;
    this.status = 0;
    this.headSent = false;
    this.respBytes = 0;
    this.upKeepAlive = true;
    this.moves++;
    const s = up.socket;
    let ok: boolean;
    if (this.outBody === null) {
      ok = s.write(this.outHead, 'latin1');
    } else {
      s.cork();
      s.write(this.outHead, 'latin1');
      ok = s.write(this.outBody);
      s.uncork();
    }
    // Do not consume more body until connected: a connect failure can then be retried whole.
    if (this.phase === P_BODY && (!up.connected || !ok)) this.pause();
  }

  onUpConnect(): void {
    if (this.phase === P_BODY && this.buf === null && !(this.up as UpConn).socket.writableNeedDrain) {
      this.resume();
    }
  }

  onUpDrain(): void {
    this.moves++;
    if (this.phase === P_BODY || this.phase === P_TUNNEL) this.resume();
  }

  private forwardBody(chunk: Buffer): void {
    let data = chunk;
    let rest: Buffer | null = null;
    let complete = false;
    if (this.reqMode === M_LENGTH) {
      if (chunk.length >= this.reqRemaining) {
        complete = true;
        if (chunk.length > this.reqRemaining) {
          data = chunk.subarray(0, this.reqRemaining);
          rest = chunk.subarray(this.reqRemaining);
        }
        this.reqRemaining = 0;
      } else {
        this.reqRemaining -= chunk.length;
      }
    } else {
      const e = this.reqChunks.scan(chunk, 0);
      if (e === CHUNKED_ERROR) {
        this.invalidBody();
        return;
      }
      if (e >= 0) {
        complete = true;
        if (e < chunk.length) {
          data = chunk.subarray(0, e);
          rest = chunk.subarray(e);
        }
      }
    }
    this.bodyStreamed = true;
    this.moves++;
    const up = this.up;
    let ok = true;
    if (up !== null && data.length > 0) ok = up.socket.write(data);
    if (complete) {
      this.phase = P_WAIT;
      if (rest !== null) {
        this.buf = rest;
        this.pause();
      }
    } else if (!ok) {
      this.pause();
    }
  }

  /** Write to the client; when its buffer is full, stop reading the upstream until 'drain'. */
  private writeClient(chunk: Buffer | string): void {
    if (!this.socket.write(chunk, 'latin1') && !this.upPaused) {
      const up = this.up;
      if (up !== null) {
        this.upPaused = true;
        up.socket.pause();
      }
    }
  }

  onUpData(chunk: Buffer): void {
    this.respBytes += chunk.length;
    this.moves++;
    switch (this.respMode) {
      case M_HEAD:
        this.onResponseHead(chunk);
        return;
      case M_LENGTH: {
        const rem = this.respRemaining;
        if (chunk.length < rem) {
          this.respRemaining = rem - chunk.length;
          this.writeClient(chunk);
          return;
        }
        if (chunk.length > rem) {
          this.upKeepAlive = false;
          chunk = chunk.subarray(0, rem);
        }
        this.respRemaining = 0;
        this.writeClient(chunk);
        this.finish();
        return;
      }
      case M_CHUNKED: {
        const e = this.respChunks.scan(chunk, 0);
        if (e === CHUNKED_ERROR) {
          this.brokenResponse();
          return;
        }
        if (e < 0) {
          this.writeClient(chunk);
          return;
        }
        if (e < chunk.length) {
          this.upKeepAlive = false;
          chunk = chunk.subarray(0, e);
        }
        this.writeClient(chunk);
        this.finish();
        return;
      }
      default:
        // M_CLOSE, M_TUNNEL
        this.writeClient(chunk);
        return;
    }
  }

  private onResponseHead(chunk: Buffer): void {
    let buf = this.respBuf === null ? chunk : Buffer.concat([this.respBuf, chunk]);
    this.respBuf = null;
    for (;;) {
      const h = this.respHead;
      const bodyStart = h.parse(buf, 0, false, RESPONSE_LIMITS);
      if (bodyStart === HEAD_INCOMPLETE) {
        this.respBuf = buf;
        return;
      }
      if (bodyStart === HEAD_INVALID) {
        this.brokenResponse();
        return;
      }
      const status = h.code;
      const contentLength = h.contentLength;
      if (status < 200 && status !== 101) {
        // Informational (100 Continue, 103 Early Hints): pass on, then read the final head.
        if (!this.socket.destroyed) this.writeClient(buf.subarray(0, bodyStart));
        if (bodyStart >= buf.length) return;
        buf = buf.subarray(bodyStart);
        continue;
      }
      this.status = status;
      if (h.close) this.upKeepAlive = false;
      let mode: number;
      if (status === 101) mode = M_TUNNEL;
      else if (this.isHead || status === 204 || status === 304) mode = M_NONE;
      else if (h.chunked) mode = M_CHUNKED;
      else if (contentLength >= 0) mode = M_LENGTH;
      else {
        mode = M_CLOSE;
        this.upKeepAlive = false;
        this.closeAfter = true;
      }
      // How much of buf belongs to this message, and is it complete?
      let msgEnd = buf.length;
      let complete = false;
      if (mode === M_NONE) {
        msgEnd = bodyStart;
        complete = true;
      } else if (mode === M_LENGTH) {
        const avail = buf.length - bodyStart;
        if (avail >= contentLength) {
          msgEnd = bodyStart + contentLength;
          complete = true;
        } else {
          this.respRemaining = contentLength - avail;
        }
      } else if (mode === M_CHUNKED) {
        this.respChunks.reset();
        if (bodyStart < buf.length) {
          const e = this.respChunks.scan(buf, bodyStart);
          if (e === CHUNKED_ERROR) {
            this.brokenResponse();
            return;
          }
          if (e >= 0) {
            msgEnd = e;
            complete = true;
          }
        }
      }
      if (msgEnd < buf.length) this.upKeepAlive = false; // stray bytes after the message
      this.respMode = mode;
      this.headSent = true;
      if (mode !== M_TUNNEL && (h.hop || this.closeAfter)) {
        // Hop-by-hop fields stay here; a client that asked to close (or HTTP/1.0) is told so.
        const kept = forwardedFields(buf, h, '', false).fields;
        const close = this.closeAfter ? 'connection: close\r\n' : '';
        this.writeClient(`${latin1(buf, 0, h.lineEnd + 2)}${kept}${close}\r\n`);
        if (msgEnd > bodyStart) this.writeClient(buf.subarray(bodyStart, msgEnd));
      } else {
        this.writeClient(msgEnd === buf.length ? buf : buf.subarray(0, msgEnd));
      }
      if (mode === M_TUNNEL) {
        this.startTunnel();
        return;
      }
      if (complete) this.finish();
      return;
    }
  }

  private startTunnel(): void {
    const be = this.backend as CompiledBackend<Pool>;
    record(this.app.shared, be.slot, this.status, performance.now() - this.start);
    this.phase = P_TUNNEL;
    const up = this.up as UpConn;
    this.outHead = '';
    this.outBody = null;
    const early = this.buf;
    this.buf = null;
    // Bytes the client sent after the upgrade request; read on only when the upstream takes them.
    if (early === null || up.socket.write(early)) this.resume();
  }

  /** The response ended normally. */
  private finish(): void {
    const be = this.backend as CompiledBackend<Pool>;
    const now = performance.now();
    record(this.app.shared, be.slot, this.status, now - this.start);
    Atomics.sub(this.app.shared.inflight, be.slot, 1);
    this.backend = null;
    const up = this.up as UpConn;
    this.up = null;
    up.owner = null;
    const requestDone = this.phase === P_WAIT;
    if (this.upKeepAlive && requestDone && !up.gotEnd) (this.pool as Pool).release(up, now);
    else up.socket.destroy();
    this.pool = null;
    if (!requestDone) this.closeAfter = true;
    this.phase = P_IDLE;
    this.afterExchange();
  }

  /** Continue with the next (pipelined) request once the client has taken this response, or close. */
  private afterExchange(): void {
    this.outHead = '';
    this.outBody = null;
    this.moves++;
    if (this.closeAfter || this.app.closing) {
      this.phase = P_CLOSED;
      this.buf = null;
      this.socket.end();
      return;
    }
    if (this.socket.writableNeedDrain) {
      // A client that pipelines without reading: stop reading it until it takes the responses.
      this.pause();
      this.drainWait = true;
      return;
    }
    this.resume();
    if (this.buf !== null) this.processHead();
  }

  /** Count the exchange with `status` and let its upstream socket go (destroyed: never reused). */
  private dropExchange(status: number): void {
    const be = this.backend as CompiledBackend<Pool>;
    record(this.app.shared, be.slot, status, performance.now() - this.start);
    Atomics.sub(this.app.shared.inflight, be.slot, 1);
    this.backend = null;
    this.pool = null;
    const up = this.up;
    this.up = null;
    if (up !== null) {
      up.owner = null;
      up.socket.destroy();
    }
  }

  /** Answer 502 ourselves (nothing of the response was sent). */
  private badGateway(): void {
    this.answerExchange(502, RESP_502, RESP_502_CLOSE);
  }

  /** End the exchange with our own response `status` (nothing of the upstream's was sent). */
  private answerExchange(status: number, resp: Buffer, respClose: Buffer): void {
    this.status = status;
    this.dropExchange(status);
    if (this.phase === P_BODY || this.socket.destroyed) {
      this.phase = P_CLOSED;
      this.socket.end(respClose);
      return;
    }
    this.socket.write(this.closeAfter ? respClose : resp);
    this.phase = P_IDLE;
    this.afterExchange();
  }

  /**
   * The request body broke its chunked framing mid-stream: the upstream connection is cut (it never
   * sees what follows) and the client gets 400, or a cut connection when a response had begun.
   */
  private invalidBody(): void {
    this.dropExchange(400);
    this.buf = null;
    this.phase = P_CLOSED;
    if (this.headSent) this.socket.destroy();
    else this.socket.end(RESP_400);
  }

  /** Invalid response from the upstream. */
  private brokenResponse(): void {
    if (!this.headSent) {
      this.badGateway();
      return;
    }
    this.abortMidResponse();
  }

  /** The response was cut after its head went out: the client must see the connection close. */
  private abortMidResponse(): void {
    this.dropExchange(this.status);
    this.phase = P_CLOSED;
    this.socket.destroy();
  }

  /** The upstream socket closed while this exchange owned it. */
  onUpClose(up: UpConn): void {
    if (this.up !== up) return;
    this.up = null;
    const be = this.backend;
    if (be === null) return;
    if (this.phase === P_TUNNEL) {
      Atomics.sub(this.app.shared.inflight, be.slot, 1);
      this.backend = null;
      this.phase = P_CLOSED;
      this.socket.end();
      return;
    }
    if (this.respMode === M_CLOSE && up.gotEnd) {
      // Close-delimited body: the end of the connection is the end of the message.
      this.up = up;
      this.finish();
      return;
    }
    const connectFailed = !up.connected;
    if (connectFailed) recordConnectFailure(this.app.shared, be.slot);
    if (this.respBytes === 0 && !this.bodyStreamed && !this.socket.destroyed) {
      if (connectFailed && this.connectRetries < 1) {
        // Retry once: another revision when the request is not pinned, else another upstream.
        this.connectRetries++;
        const route = this.app.route;
        let next: CompiledBackend<Pool> | undefined;
        if (!this.pinned && route !== null) next = pickOther(route, be);
        if (next === undefined) next = route?.byRevision.get(be.revision) ?? be;
        if (next !== be) {
          Atomics.sub(this.app.shared.inflight, be.slot, 1);
          Atomics.add(this.app.shared.inflight, next.slot, 1);
          this.backend = next;
        }
        const pools = next.pools;
        let pool = pools[next.rr] as Pool;
        next.rr = next.rr + 1 >= pools.length ? 0 : next.rr + 1;
        if (pool === up.pool && pools.length > 1) {
          pool = pools[next.rr] as Pool;
          next.rr = next.rr + 1 >= pools.length ? 0 : next.rr + 1;
        }
        this.dispatch(pool, false);
        return;
      }
      if (!connectFailed && up.reused && this.staleRetries < 1 && idempotent(this.outHead)) {
        // Keep-alive race: the upstream closed the idle pooled socket as we wrote to it. It may
        // also have acted on the request first, so only a method that may run twice is re-sent.
        this.staleRetries++;
        this.dispatch(up.pool, true);
        return;
      }
    }
    if (!this.headSent) this.badGateway();
    else this.abortMidResponse();
  }

  /** The client connection closed. */
  private onClose(): void {
    this.app.conns.delete(this);
    this.phase = P_CLOSED;
    this.buf = null;
    const be = this.backend;
    if (be !== null) {
      this.backend = null;
      Atomics.sub(this.app.shared.inflight, be.slot, 1);
      // Client abort: count the request (499-like, not a 5xx).
      if (this.status !== 101)
        record(this.app.shared, be.slot, this.status || 499, performance.now() - this.start);
    }
    const up = this.up;
    if (up !== null) {
      this.up = null;
      up.owner = null;
      up.socket.destroy();
    }
  }

  /** Idle = no request in flight. */
  isIdle(): boolean {
    return this.backend === null && this.phase !== P_TUNNEL;
  }

  /**
   * The sweep's look at this connection: what it waits for, and whether it has waited too long.
   * A wait starts when the sweep first sees it (so never before it really started) and restarts
   * on any progress (`moves`), except that a request head has one deadline however it trickles in.
   */
  tick(now: number): void {
    const phase = this.phase;
    if (phase === P_CLOSED) return;
    let kind: number;
    if (this.upPaused || this.drainWait || (phase === P_TUNNEL && this.paused)) kind = W_SEND;
    else if (phase === P_IDLE) kind = this.buf === null ? W_IDLE : W_HEADER;
    else if (phase === P_TUNNEL) kind = W_NONE;
    else if (this.up === null || !this.up.connected) kind = W_CONNECT;
    else if (phase === P_BODY && !this.paused) kind = W_BODY;
    else kind = W_RESPONSE;
    if (kind !== this.waitKind || this.moves !== this.waitMoves) {
      this.waitKind = kind;
      this.waitMoves = this.moves;
      this.waitSince = now;
      return;
    }
    const t = this.app.timeouts;
    const waited = now - this.waitSince;
    switch (kind) {
      case W_IDLE:
        if (waited > t.idle) this.socket.destroy();
        return;
      case W_HEADER:
        if (waited > t.clientHeader) {
          this.buf = null;
          this.phase = P_CLOSED;
          this.socket.end(RESP_408);
        }
        return;
      case W_BODY:
        if (waited > t.clientHeader) this.timeoutExchange(408, RESP_408, RESP_408);
        return;
      case W_CONNECT:
        // Counts as a connect failure: retried once elsewhere, else 502 (see onUpClose).
        if (waited > t.connect) this.up?.socket.destroy();
        return;
      case W_RESPONSE:
        if (waited > t.response) this.timeoutExchange(504, RESP_504, RESP_504_CLOSE);
        return;
      case W_SEND:
        if (waited > t.send) this.socket.destroy(); // onClose closes the upstream socket
        return;
    }
  }

  /** A timed-out exchange: its upstream socket is closed, the client told when nothing was sent yet. */
  private timeoutExchange(status: number, resp: Buffer, respClose: Buffer): void {
    if (this.backend === null) return;
    if (this.headSent) this.abortMidResponse();
    else this.answerExchange(status, resp, respClose);
  }
}

// ----------------------------------------------------------------------------------------------
// Engine: apps, listeners, pools of one worker

export class Engine {
  readonly apps = new Map<string, AppRuntime>();
  readonly pools = new Map<string, Pool>();
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.timer = setInterval(() => this.sweep(), TICK_MS);
    this.timer.unref();
  }

  poolFor = (host: string, port: number): Pool => {
    const key = `${host}:${port}`;
    let p = this.pools.get(key);
    if (p === undefined) {
      p = new Pool(host, port);
      this.pools.set(key, p);
    }
    return p;
  };

  private sweep(): void {
    const now = performance.now();
    for (const [key, pool] of this.pools) {
      pool.sweep(now, POOL_IDLE_MS);
      if (pool.open === 0 && !this.inUse(pool)) this.pools.delete(key);
    }
    for (const app of this.apps.values()) for (const c of app.conns) c.tick(now);
  }

  private inUse(pool: Pool): boolean {
    for (const app of this.apps.values()) {
      const r = app.route;
      if (r === null) continue;
      for (const b of r.byRevision.values()) if (b.pools.includes(pool)) return true;
    }
    return false;
  }

  listen(app: AppRuntime, host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ noDelay: true }, (socket) => {
        if (app.closing) {
          socket.destroy();
          return;
        }
        if (app.conns.size >= app.maxConnections) {
          Engine.refuse(socket, app.timeouts.clientHeader);
          return;
        }
        new ClientConn(app, socket);
      });
      server.once('error', reject);
      server.listen({ host, port, reusePort: true, backlog: 4096 }, () => {
        server.off('error', reject);
        server.on('error', () => {});
        app.server = server;
        const addr = server.address();
        resolve(typeof addr === 'object' && addr !== null ? addr.port : port);
      });
    });
  }

  /**
   * Over the app's connection limit: 503 and close. The request is read and dropped (closing with
   * unread bytes would reset the connection and lose the 503); one timer guards this rare path.
   */
  private static refuse(socket: net.Socket, timeoutMs: number): void {
    socket.on('error', () => {});
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.resume();
    socket.end(RESP_503_BUSY);
  }

  /** Stop accepting, let in-flight requests finish, close idle connections. */
  closeApp(app: AppRuntime): Promise<void> {
    app.closing = true;
    this.apps.delete(app.name);
    return new Promise((resolve) => {
      const server = app.server;
      app.server = null;
      let pending = 1;
      const done = (): void => {
        if (--pending === 0) resolve();
      };
      if (server !== null) {
        pending++;
        server.close(() => done());
      }
      for (const c of app.conns) if (c.isIdle() || c.phase === P_TUNNEL) c.socket.destroy();
      if (app.conns.size === 0) {
        done();
        return;
      }
      // The sweep no longer sees this app: tick its connections here so a hung exchange still
      // times out and the drain ends.
      const check = setInterval(() => {
        const now = performance.now();
        for (const c of app.conns) {
          if (c.isIdle()) c.socket.destroy();
          else c.tick(now);
        }
        if (app.conns.size === 0) {
          clearInterval(check);
          done();
        }
      }, 20);
    });
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.apps.values()].map((a) => this.closeApp(a)));
    for (const p of this.pools.values()) p.closeAll();
  }
}
