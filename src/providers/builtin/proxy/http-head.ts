// Strict HTTP/1.1 message heads (RFC 9110/9112), in one pass over the bytes.
//
// The proxy sits between clients and upstreams that may each frame a message differently; any
// ambiguity is a request-smuggling hole. So a head is accepted only when every byte is where the
// grammar allows it: lines end with CRLF (a bare LF or bare CR is rejected, never read as a line
// end), field names are tokens followed directly by ':', values hold no control bytes but HTAB,
// obs-fold continuation lines are refused, and framing headers (Content-Length, Transfer-Encoding,
// Host) must be unambiguous. The scan records where each field is; the semantic checks then only
// look at the recorded offsets of the few fields that matter (no regex, no second pass over bytes).

import { DEFAULT_LIMITS, type HeadLimits } from '../../../spec/proxy-spec.ts';

export { DEFAULT_LIMITS, type HeadLimits };

export const HEAD_INCOMPLETE = -1;
export const HEAD_INVALID = -2;

// Character classes.
const TCHAR = 1; // token (field names, methods, chunk-extension names)
const VCHAR = 2; // field-vchar: VCHAR and obs-text
const TARGET = 4; // request-target: visible ASCII
const HOST = 8; // reg-name, IP-literal and port
const QDTEXT = 16; // quoted-string text (chunk extensions)

export const CHAR_CLASS: Uint8Array = (() => {
  const t = new Uint8Array(256);
  const tokenExtra = "!#$%&'*+-.^_`|~";
  for (let c = 0; c < 256; c++) {
    const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    let k = 0;
    if (alnum || tokenExtra.includes(String.fromCharCode(c))) k |= TCHAR;
    if ((c >= 0x21 && c <= 0x7e) || c >= 0x80) k |= VCHAR;
    if (c >= 0x21 && c <= 0x7e) k |= TARGET;
    if (alnum || "-._~!$&'()*+,;=:[]%".includes(String.fromCharCode(c))) k |= HOST;
    if (
      c === 9 ||
      c === 32 ||
      c === 0x21 ||
      (c >= 0x23 && c <= 0x5b) ||
      (c >= 0x5d && c <= 0x7e) ||
      c >= 0x80
    )
      k |= QDTEXT;
    t[c] = k;
  }
  return t;
})();
export const C_TCHAR = TCHAR;
export const C_VCHAR = VCHAR;
export const C_QDTEXT = QDTEXT;

/** Methods llhttp (Node's parser, the usual upstream) knows; others are answered 501 here. */
const METHODS = new Set([
  'DELETE', 'GET', 'HEAD', 'POST', 'PUT', 'CONNECT', 'OPTIONS', 'TRACE', 'COPY', 'LOCK', 'MKCOL', 'MOVE',
  'PROPFIND', 'PROPPATCH', 'SEARCH', 'UNLOCK', 'BIND', 'REBIND', 'UNBIND', 'ACL', 'REPORT', 'MKACTIVITY',
  'CHECKOUT', 'MERGE', 'M-SEARCH', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'PATCH', 'PURGE', 'MKCALENDAR',
  'LINK', 'UNLINK', 'SOURCE', 'QUERY',
]); // biome-ignore format: a list

// Field kinds, recorded per field so that rewriting never compares names twice.
export const F_OTHER = 0;
export const F_CONTENT_LENGTH = 1;
export const F_TRANSFER_ENCODING = 2;
export const F_HOST = 3;
export const F_CONNECTION = 4;
/** Hop-by-hop: Keep-Alive, Proxy-Connection, TE, Trailer, Proxy-Authorization, Proxy-Authenticate. */
export const F_HOP = 5;
export const F_UPGRADE = 6;
export const F_XFF = 7;

/** Do the bytes at `at` equal `lower` ignoring ASCII case (only for letters, digits and '-' in `lower`)? */
export function eqLower(b: Uint8Array, at: number, lower: string): boolean {
  const n = lower.length;
  for (let i = 0; i < n; i++) {
    if (((b[at + i] as number) | 0x20) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

function fieldKind(b: Uint8Array, at: number, n: number): number {
  switch (n) {
    case 2:
      return eqLower(b, at, 'te') ? F_HOP : F_OTHER;
    case 4:
      return eqLower(b, at, 'host') ? F_HOST : F_OTHER;
    case 7:
      if (eqLower(b, at, 'upgrade')) return F_UPGRADE;
      return eqLower(b, at, 'trailer') ? F_HOP : F_OTHER;
    case 10:
      if (eqLower(b, at, 'connection')) return F_CONNECTION;
      return eqLower(b, at, 'keep-alive') ? F_HOP : F_OTHER;
    case 14:
      return eqLower(b, at, 'content-length') ? F_CONTENT_LENGTH : F_OTHER;
    case 15:
      return eqLower(b, at, 'x-forwarded-for') ? F_XFF : F_OTHER;
    case 16:
      return eqLower(b, at, 'proxy-connection') ? F_HOP : F_OTHER;
    case 17:
      return eqLower(b, at, 'transfer-encoding') ? F_TRANSFER_ENCODING : F_OTHER;
    case 18:
      return eqLower(b, at, 'proxy-authenticate') ? F_HOP : F_OTHER;
    case 19:
      return eqLower(b, at, 'proxy-authorization') ? F_HOP : F_OTHER;
    default:
      return F_OTHER;
  }
}

/** Comma-separated tokens of a field value, lower-cased (Connection values; rare path). */
export function listTokens(b: Uint8Array, from: number, to: number): string[] {
  const out: string[] = [];
  let s = -1;
  for (let i = from; i <= to; i++) {
    const c = i === to ? 44 : (b[i] as number);
    if (c === 44 || c === 32 || c === 9) {
      if (s >= 0)
        out.push(
          Buffer.from(b.buffer, b.byteOffset + s, i - s)
            .toString('latin1')
            .toLowerCase(),
        );
      s = -1;
    } else if (s < 0) s = i;
  }
  return out;
}

const CONN_CLOSE = 1;
const CONN_KEEP_ALIVE = 2;
const CONN_UPGRADE = 4;
const CONN_OTHER = 8;

/** The options in a Connection value as CONN_* bits, read in place (every message may carry one). */
function connectionOptions(b: Uint8Array, from: number, to: number): number {
  let bits = 0;
  let s = -1;
  for (let i = from; i <= to; i++) {
    const c = i === to ? 44 : (b[i] as number);
    if (c === 44 || c === 32 || c === 9) {
      if (s >= 0) {
        const n = i - s;
        if (n === 5 && eqLower(b, s, 'close')) bits |= CONN_CLOSE;
        else if (n === 10 && eqLower(b, s, 'keep-alive')) bits |= CONN_KEEP_ALIVE;
        else if (n === 7 && eqLower(b, s, 'upgrade')) bits |= CONN_UPGRADE;
        else bits |= CONN_OTHER;
      }
      s = -1;
    } else if (s < 0) s = i;
  }
  return bits;
}

/**
 * One parsed head. Offsets index the buffer given to parseHead. Reused between messages of a
 * connection (reset by every parse).
 */
export class Head {
  /** HTTP status to answer when parseHead returned HEAD_INVALID (400, 414, 431, 501, 505). */
  status = 0;
  /** Why, for tests and the fuzz report. */
  reason = '';
  start = 0;
  /** Offset of the CR ending the start line. */
  lineEnd = 0;
  /** Offset just past the CRLF CRLF. */
  end = 0;
  http10 = false;
  // Request line
  methodEnd = 0;
  targetStart = 0;
  targetEnd = 0;
  isHead = false;
  /** Absolute-form target: where its authority is and where the origin-form part starts (-1: none). */
  authorityStart = -1;
  authorityEnd = -1;
  pathStart = -1;
  // Status line (responses)
  code = 0;
  // Fields: per field [kind, nameStart, colon, valueStart, valueEnd, lineEnd(after LF)]
  count = 0;
  fields: Int32Array = new Int32Array(6 * 32);
  // Framing
  contentLength = -1;
  chunked = false;
  /** Connection: close (or HTTP/1.0 without keep-alive). */
  close = false;
  /** Upgrade requested (Upgrade field and "upgrade" in Connection). */
  upgrade = false;
  host = -1;
  /** Any Connection, hop-by-hop or x-forwarded-for field: the head must be rewritten to forward. */
  hop = false;
  /** Connection names fields beyond close/keep-alive/upgrade: those must be removed as well. */
  connectionNames = false;

  private fail(status: number, reason: string): number {
    this.status = status;
    this.reason = reason;
    return HEAD_INVALID;
  }

  /**
   * Parse the head starting at `start` (a request when `request`, else a response). Returns the
   * offset just past the head, HEAD_INCOMPLETE, or HEAD_INVALID with `status` and `reason` set.
   */
  parse(b: Uint8Array, start: number, request: boolean, limits: HeadLimits): number {
    const end = b.length;
    this.start = start;
    this.count = 0;
    this.contentLength = -1;
    this.chunked = false;
    this.close = false;
    this.upgrade = false;
    this.host = -1;
    this.hop = false;
    this.connectionNames = false;
    this.authorityStart = -1;
    this.authorityEnd = -1;
    this.pathStart = -1;
    this.isHead = false;
    this.code = 0;
    const C = CHAR_CLASS;
    let pos = start;

    // Start line.
    if (request) {
      while (pos < end && (C[b[pos] as number] as number) & TCHAR) pos++;
      if (pos < end && (pos === start || b[pos] !== 32)) return this.fail(400, 'invalid method');
      this.methodEnd = pos;
      pos++;
      this.targetStart = pos;
      while (pos < end && (C[b[pos] as number] as number) & TARGET) pos++;
      if (pos < end && (pos === this.targetStart || b[pos] !== 32))
        return this.fail(400, 'invalid request-target');
      this.targetEnd = pos;
      pos++;
    } else {
      // "HTTP/1.x SSS "
      if (end - pos >= 13) {
        const c0 = b[pos + 9] as number;
        const c1 = b[pos + 10] as number;
        const c2 = b[pos + 11] as number;
        if (b[pos + 8] !== 32 || c0 < 49 || c0 > 57 || c1 < 48 || c1 > 57 || c2 < 48 || c2 > 57)
          return this.fail(502, 'invalid status line');
        this.code = (c0 - 48) * 100 + (c1 - 48) * 10 + (c2 - 48);
      }
    }
    // Version.
    if (end - pos >= 8) {
      if (
        b[pos] !== 72 ||
        b[pos + 1] !== 84 ||
        b[pos + 2] !== 84 ||
        b[pos + 3] !== 80 ||
        b[pos + 4] !== 47 ||
        b[pos + 6] !== 46
      )
        return this.fail(request ? 400 : 502, 'invalid HTTP version');
      const major = b[pos + 5] as number;
      const minor = b[pos + 7] as number;
      if (major !== 49 || (minor !== 48 && minor !== 49)) {
        if (major < 48 || major > 57 || minor < 48 || minor > 57)
          return this.fail(request ? 400 : 502, 'invalid HTTP version');
        return this.fail(request ? 505 : 502, 'unsupported HTTP version');
      }
      this.http10 = minor === 48;
      pos += 8;
    } else pos = end;
    if (!request && pos < end) {
      // SP status-code SP reason-phrase
      pos += 4;
      if (pos < end && b[pos] !== 13) {
        if (b[pos] !== 32) return this.fail(502, 'invalid status line');
        pos++;
        while (
          pos < end &&
          (((C[b[pos] as number] as number) & VCHAR) !== 0 || b[pos] === 32 || b[pos] === 9)
        )
          pos++;
      }
    }
    if (pos >= end) {
      if (request && end - start > limits.requestLine) return this.fail(414, 'request line too long');
      if (end - start > limits.head) return this.fail(request ? 431 : 502, 'head too large');
      return HEAD_INCOMPLETE;
    }
    if (b[pos] !== 13) return this.fail(request ? 400 : 502, 'start line not ended by CRLF');
    if (request && pos - start > limits.requestLine) return this.fail(414, 'request line too long');
    if (pos + 1 >= end) return HEAD_INCOMPLETE;
    if (b[pos + 1] !== 10) return this.fail(request ? 400 : 502, 'bare CR');
    this.lineEnd = pos;
    pos += 2;

    // Field lines.
    const bad = request ? 400 : 502;
    const tooLarge = request ? 431 : 502;
    const maxLine = limits.headerLine;
    for (;;) {
      if (pos >= end)
        return end - start > limits.head ? this.fail(tooLarge, 'head too large') : HEAD_INCOMPLETE;
      const lineStart = pos;
      if (b[pos] === 13) {
        if (pos + 1 >= end) return HEAD_INCOMPLETE;
        if (b[pos + 1] !== 10) return this.fail(bad, 'bare CR');
        pos += 2;
        break;
      }
      while (pos < end && (C[b[pos] as number] as number) & TCHAR) pos++;
      if (pos >= end) return this.incomplete(end, lineStart, maxLine, tooLarge, limits);
      // Covers whitespace before the colon, obs-fold (a line starting with SP/HTAB), bare LF, NUL.
      if (b[pos] !== 58 || pos === lineStart) return this.fail(bad, 'invalid field name');
      const colon = pos;
      pos++;
      while (pos < end && (b[pos] === 32 || b[pos] === 9)) pos++;
      const vs = pos;
      let ve = pos;
      while (pos < end) {
        const c = b[pos] as number;
        if ((C[c] as number) & VCHAR) ve = ++pos;
        else if (c === 32 || c === 9) pos++;
        else break;
      }
      if (pos >= end) return this.incomplete(end, lineStart, maxLine, tooLarge, limits);
      if (b[pos] !== 13) return this.fail(bad, 'control byte or bare LF in a field value');
      if (pos - lineStart > maxLine) return this.fail(tooLarge, 'header line too long');
      if (pos + 1 >= end) return HEAD_INCOMPLETE;
      if (b[pos + 1] !== 10) return this.fail(bad, 'bare CR');
      pos += 2;
      const i = this.count * 6;
      if (i + 6 > this.fields.length) {
        const grown = new Int32Array(this.fields.length * 2);
        grown.set(this.fields);
        this.fields = grown;
      }
      const f = this.fields;
      f[i] = fieldKind(b, lineStart, colon - lineStart);
      f[i + 1] = lineStart;
      f[i + 2] = colon;
      f[i + 3] = vs;
      f[i + 4] = ve;
      f[i + 5] = pos;
      this.count++;
    }
    if (pos - start > limits.head) return this.fail(tooLarge, 'head too large');
    this.end = pos;
    const r = request ? this.checkRequest(b) : this.checkResponse(b);
    return r < 0 ? r : pos;
  }

  private incomplete(
    end: number,
    lineStart: number,
    maxLine: number,
    status: number,
    limits: HeadLimits,
  ): number {
    if (end - lineStart > maxLine) return this.fail(status, 'header line too long');
    if (end - this.start > limits.head) return this.fail(status, 'head too large');
    return HEAD_INCOMPLETE;
  }

  /** Framing fields common to requests and responses; returns HEAD_INVALID or 0. */
  private checkFields(b: Uint8Array, bad: number): number {
    const f = this.fields;
    let te = false;
    let conn = 0;
    let upgradeField = false;
    for (let i = 0; i < this.count * 6; i += 6) {
      const kind = f[i] as number;
      if (kind === F_OTHER) continue;
      const vs = f[i + 3] as number;
      const ve = f[i + 4] as number;
      switch (kind) {
        case F_CONTENT_LENGTH: {
          // One field of digits only: a list or a repeat ("5, 5") is ambiguous to someone.
          if (this.contentLength >= 0) return this.fail(bad, 'more than one Content-Length');
          if (vs === ve || ve - vs > 15) return this.fail(bad, 'invalid Content-Length');
          let v = 0;
          for (let p = vs; p < ve; p++) {
            const d = (b[p] as number) - 48;
            if (d < 0 || d > 9) return this.fail(bad, 'invalid Content-Length');
            v = v * 10 + d;
          }
          this.contentLength = v;
          break;
        }
        case F_TRANSFER_ENCODING:
          if (te) return this.fail(bad, 'more than one Transfer-Encoding');
          te = true;
          // Exactly "chunked": even trailing whitespace is read differently by some parsers (llhttp).
          if (ve - vs === 7 && (f[i + 5] as number) - 2 === ve && eqLower(b, vs, 'chunked'))
            this.chunked = true;
          else {
            const tokens = listTokens(b, vs, ve);
            // chunked must be the final coding; other codings this proxy cannot frame or decode.
            return tokens.length > 1 && tokens[tokens.length - 1] === 'chunked' && bad === 400
              ? this.fail(501, 'transfer coding other than chunked')
              : this.fail(bad, 'Transfer-Encoding is not exactly chunked');
          }
          break;
        case F_CONNECTION:
          this.hop = true;
          conn |= connectionOptions(b, vs, ve);
          break;
        case F_UPGRADE:
          upgradeField = true;
          this.hop = true;
          break;
        case F_HOST:
          if (this.host >= 0) return this.fail(bad, 'more than one Host');
          this.host = i;
          break;
        default:
          this.hop = true;
      }
    }
    if (te && this.contentLength >= 0) return this.fail(bad, 'both Transfer-Encoding and Content-Length');
    if (te && this.http10) return this.fail(bad, 'Transfer-Encoding in HTTP/1.0');
    this.connectionNames = (conn & CONN_OTHER) !== 0;
    this.close = (conn & CONN_CLOSE) !== 0 || (this.http10 && (conn & CONN_KEEP_ALIVE) === 0);
    this.upgrade = upgradeField && (conn & CONN_UPGRADE) !== 0;
    return 0;
  }

  private checkRequest(b: Uint8Array): number {
    const ms = this.start;
    const ml = this.methodEnd - ms;
    // GET and POST without a string; other methods against llhttp's list.
    const get = ml === 3 && b[ms] === 71 && b[ms + 1] === 69 && b[ms + 2] === 84;
    if (!get && !(ml === 4 && b[ms] === 80 && b[ms + 1] === 79 && b[ms + 2] === 83 && b[ms + 3] === 84)) {
      const m = Buffer.from(b.buffer, b.byteOffset + ms, ml).toString('latin1');
      if (!METHODS.has(m)) return this.fail(501, 'unknown method');
      if (m === 'CONNECT') return this.fail(501, 'CONNECT is not supported');
      this.isHead = m === 'HEAD';
    }
    if (this.checkFields(b, 400) < 0) return HEAD_INVALID;
    const ts = this.targetStart;
    const te = this.targetEnd;
    const t0 = b[ts] as number;
    if (t0 !== 47) {
      if (t0 === 42 && te - ts === 1) {
        if (!(ml === 7 && eqLower(b, ms, 'options'))) return this.fail(400, '* target outside OPTIONS');
      } else if (this.absoluteForm(b, ts, te) < 0) return HEAD_INVALID;
    }
    const f = this.fields;
    if (this.host >= 0) {
      const hs = f[this.host + 3] as number;
      const he = f[this.host + 4] as number;
      for (let p = hs; p < he; p++)
        if (((CHAR_CLASS[b[p] as number] as number) & HOST) === 0) return this.fail(400, 'invalid Host');
      if (this.authorityStart >= 0) {
        const n = this.authorityEnd - this.authorityStart;
        let same = he - hs === n;
        for (let k = 0; same && k < n; k++)
          same = ((b[hs + k] as number) | 0x20) === ((b[this.authorityStart + k] as number) | 0x20);
        if (!same) return this.fail(400, 'Host differs from the absolute-form target');
      }
    } else if (!this.http10 && this.authorityStart < 0)
      return this.fail(400, 'HTTP/1.1 request without Host');
    return 0;
  }

  /** "http://authority/path?query" -> record the authority and where origin-form starts. */
  private absoluteForm(b: Uint8Array, ts: number, te: number): number {
    let p = ts;
    if (te - p > 7 && eqLower(b, p, 'http://')) p += 7;
    else if (te - p > 8 && eqLower(b, p, 'https://')) p += 8;
    else return this.fail(400, 'request-target is not origin-form or absolute-form');
    const as = p;
    while (p < te && b[p] !== 47 && b[p] !== 63) {
      if (((CHAR_CLASS[b[p] as number] as number) & HOST) === 0) return this.fail(400, 'invalid authority');
      p++;
    }
    if (p === as) return this.fail(400, 'absolute-form target without a host');
    this.authorityStart = as;
    this.authorityEnd = p;
    this.pathStart = p;
    return 0;
  }

  private checkResponse(b: Uint8Array): number {
    return this.checkFields(b, 502);
  }
}
