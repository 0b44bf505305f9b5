// Differential fuzzing of the proxy's request framing against llhttp, the parser inside Node's own
// http server (and the usual upstream behind Rewind). Both parsers read the same bytes (one or more
// pipelined requests, generated and mutated); any message Rewind accepts must be framed by llhttp
// the same way: same number of requests, same method and target, same body bytes. Rewind may be
// stricter (reject what llhttp accepts); accepting what llhttp rejects, or framing differently,
// is a smuggling hole and fails.
//
// Differences allowed on purpose (Rewind rejects, llhttp accepts):
// - a second Content-Length, even with the same value; a Host with characters outside RFC 3986;
// - HTTP/1.1 without Host, two Host fields, Transfer-Encoding in HTTP/1.0 (llhttp leaves these to
//   Node's http server, which answers 400 too);
// - a request-target with bytes outside visible ASCII, "*" outside OPTIONS, a target that is neither
//   origin-form nor absolute-form, and CONNECT (501);
// - empty lines before a request line other than CRLF pairs;
// - whitespace around chunk sizes and in chunk extensions, extensions over 4 KB;
// - HTTP versions other than 1.0 and 1.1 (505).

import { createRequire } from 'node:module';
import { CHUNKED_ERROR, CHUNKED_NEED_MORE, ChunkScanner } from '../../src/providers/builtin/proxy/chunked.ts';
import {
  DEFAULT_LIMITS,
  HEAD_INCOMPLETE,
  HEAD_INVALID,
  Head,
  type HeadLimits,
} from '../../src/providers/builtin/proxy/http-head.ts';
import { prng } from './analysis-fixtures.ts';

export interface FramedRequest {
  readonly method: string;
  readonly target: string;
  /** Body as delivered to the application (chunked framing decoded). */
  readonly body: string;
  readonly upgrade: boolean;
}

export interface Framing {
  readonly requests: FramedRequest[];
  /** Why the parser stopped with an error (undefined: all input used, or waiting for more). */
  readonly error: string | undefined;
  /** The last request ended the HTTP exchange (Connection: close, or an upgrade). */
  readonly stopped?: boolean;
}

/** Decode a chunked body that ChunkScanner accepted (latin1 string of the payload). */
function dechunk(b: Buffer): string {
  let out = '';
  let i = 0;
  for (;;) {
    const lineEnd = b.indexOf('\r\n', i);
    let sizeEnd = i;
    while (sizeEnd < lineEnd && b[sizeEnd] !== 59) sizeEnd++;
    const size = Number.parseInt(b.toString('latin1', i, sizeEnd), 16);
    if (size === 0) return out;
    out += b.toString('latin1', lineEnd + 2, lineEnd + 2 + size);
    i = lineEnd + 2 + size + 2;
  }
}

/** Frame pipelined requests the way the engine does (same Head and ChunkScanner). */
export function rewindFrame(b: Buffer, limits: HeadLimits = DEFAULT_LIMITS): Framing {
  const requests: FramedRequest[] = [];
  const h = new Head();
  const chunks = new ChunkScanner();
  let pos = 0;
  for (;;) {
    while (pos + 1 < b.length && b[pos] === 13 && b[pos + 1] === 10) pos += 2;
    if (pos >= b.length) return { requests, error: undefined };
    const rest = b.subarray(pos);
    const he = h.parse(rest, 0, true, limits);
    if (he === HEAD_INCOMPLETE) return { requests, error: undefined };
    if (he === HEAD_INVALID) return { requests, error: `${h.status} ${h.reason}` };
    const method = rest.toString('latin1', 0, h.methodEnd);
    const target = rest.toString('latin1', h.targetStart, h.targetEnd);
    if (h.upgrade) {
      requests.push({ method, target, body: '', upgrade: true });
      return { requests, error: undefined, stopped: true };
    }
    let body = '';
    let end = he;
    if (h.chunked) {
      chunks.reset();
      const e = chunks.scan(rest, he);
      if (e === CHUNKED_ERROR) return { requests, error: '400 invalid chunked body' };
      if (e === CHUNKED_NEED_MORE) return { requests, error: undefined };
      body = dechunk(rest.subarray(he, e));
      end = e;
    } else if (h.contentLength > 0) {
      if (rest.length - he < h.contentLength) return { requests, error: undefined };
      end = he + h.contentLength;
      body = rest.toString('latin1', he, end);
    }
    requests.push({ method, target, body, upgrade: false });
    if (h.close) return { requests, error: undefined, stopped: true };
    pos += end;
  }
}

interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(b: Buffer): number | Error;
  close(): void;
  [k: number]: unknown;
}
interface LlhttpBinding {
  new (): LlhttpParser;
  REQUEST: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnHeaders: number;
}

const require = createRequire(import.meta.url);
const common = require('node:_http_common') as { HTTPParser: LlhttpBinding; methods: string[] };
const HTTPParser = common.HTTPParser;

/** Frame the same bytes with llhttp, strict (Node's defaults: no lenient flags). */
export function llhttpFrame(b: Buffer): Framing {
  const requests: FramedRequest[] = [];
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {}, DEFAULT_LIMITS.head, 0);
  let current: { method: string; target: string; body: string; upgrade: boolean } | null = null;
  let stop = false;
  let url = '';
  p[HTTPParser.kOnHeaders] = (_headers: string[], u: string) => {
    if (current === null) url += u; // a long head flushed early; trailers come with current set
  };
  p[HTTPParser.kOnHeadersComplete] = (
    _maj: number,
    _min: number,
    _headers: string[],
    method: number,
    u: string,
    _code: number,
    _msg: string,
    upgrade: boolean,
  ) => {
    current = { method: common.methods[method] ?? '?', target: url + (u ?? ''), body: '', upgrade };
    url = '';
    if (upgrade) {
      requests.push(current);
      stop = true;
    }
    return 0;
  };
  p[HTTPParser.kOnBody] = (chunk: Buffer) => {
    if (current !== null && !stop) current.body += chunk.toString('latin1');
  };
  p[HTTPParser.kOnMessageComplete] = () => {
    if (current !== null && !stop) requests.push(current);
    current = null;
  };
  const r = p.execute(b);
  p.close();
  if (stop) return { requests, error: undefined };
  return { requests, error: r instanceof Error ? String((r as Error & { code?: string }).code) : undefined };
}

/** A framing difference that is not Rewind being stricter, or undefined. */
export function compareFraming(rewind: Framing, llhttp: Framing): string | undefined {
  const r = rewind.requests;
  const l = llhttp.requests;
  for (let i = 0; i < r.length; i++) {
    const a = r[i] as FramedRequest;
    const b = l[i];
    if (b === undefined)
      return `request ${i + 1}: Rewind accepted ${a.method} ${a.target}, llhttp ${llhttp.error ?? 'waits for more bytes'}`;
    if (a.method !== b.method || a.target !== b.target || a.upgrade !== b.upgrade)
      return `request ${i + 1}: Rewind ${a.method} ${a.target}${a.upgrade ? ' (upgrade)' : ''}, llhttp ${b.method} ${b.target}${b.upgrade ? ' (upgrade)' : ''}`;
    if (a.body !== b.body)
      return `request ${i + 1}: bodies differ, Rewind ${JSON.stringify(a.body)}, llhttp ${JSON.stringify(b.body)}`;
    if (a.upgrade) return undefined;
  }
  if (l.length > r.length && rewind.error === undefined && rewind.stopped !== true)
    return `request ${r.length + 1}: llhttp framed ${l[r.length]?.method} ${l[r.length]?.target}, Rewind waits for more bytes`;
  return undefined;
}

// ----------------------------------------------------------------------------------------------
// Generation

const METHODS = [
  'GET',
  'GET',
  'POST',
  'POST',
  'PUT',
  'HEAD',
  'OPTIONS',
  'DELETE',
  'PATCH',
  'FOO',
  'get',
  'CONNECT',
];
const TARGETS = [
  '/',
  '/a?b=c',
  '/x/y.z',
  '*',
  'http://h/p',
  'http://h',
  'https://h:8/?q',
  'h:80',
  '/a b',
  '/\x7f',
  '/\xe9',
  '/%00',
];
const VERSIONS = [
  'HTTP/1.1',
  'HTTP/1.1',
  'HTTP/1.1',
  'HTTP/1.0',
  'HTTP/1.2',
  'HTTP/2.0',
  'http/1.1',
  'HTTP/1.1 ',
];
const FIELDS = [
  'Host: h',
  'Host: h',
  'Host: h',
  'Host: other',
  'Host: h h',
  'Connection: close',
  'Connection: keep-alive',
  'Connection: upgrade',
  'Connection: x-drop, close',
  'Upgrade: websocket',
  'Keep-Alive: timeout=5',
  'X-A: a',
  'X-A: a\tb ',
  'X-A : a',
  ' folded',
  '\tfolded',
  'X\x00A: a',
  'X-A: a\x00b',
  'X-A: a\x01b',
  'X-A: a\x7fb',
  'X-A: \xe9',
  'X[A]: a',
  ': empty name',
  'X-A:',
  'Expect: 100-continue',
  'Cookie: uid=1',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: chunked, identity',
  'Transfer-Encoding: identity, chunked',
  'Transfer-Encoding: gzip',
  'Transfer-Encoding:chunked',
  'Transfer-Encoding: CHUNKED',
  'Transfer-Encoding: chunked ',
  'Transfer-Encoding: xchunked',
  'Content-Length: 3',
  'Content-Length: 3',
  'Content-Length: 0',
  'Content-Length: 03',
  'Content-Length: +3',
  'Content-Length: 3 ',
  'Content-Length: 3, 3',
  'Content-Length: 99999999999999999999',
  'Content-Length: -1',
];
const EOLS = ['\r\n', '\r\n', '\r\n', '\r\n', '\r\n', '\r\n', '\n', '\r', '\r\r\n'];
const CHUNK_LINES = [
  '3',
  '3;a=b',
  '3;a="q d"',
  '3;a',
  '3 ;a',
  '3\t',
  '0003',
  '3;a="\\"x"',
  '3;a=\x00',
  '3;a="\x01"',
  'x',
  '',
  'ffffffffffffffffff',
];
const TRAILERS = ['', 'T: v\r\n', 'T: v\n', 'T : v\r\n', 'T: v\x00\r\n', ' folded\r\n'];

const pick = <T>(rnd: () => number, list: readonly T[]): T => list[Math.floor(rnd() * list.length)] as T;

function chunkedBody(rnd: () => number): string {
  let out = '';
  const n = Math.floor(rnd() * 3);
  for (let i = 0; i < n; i++) {
    const line = rnd() < 0.8 ? pick(rnd, ['3', '3;a=b', '3;a="q d"']) : pick(rnd, CHUNK_LINES);
    out += `${line}${rnd() < 0.9 ? '\r\n' : pick(rnd, EOLS)}abc${rnd() < 0.9 ? '\r\n' : pick(rnd, EOLS)}`;
  }
  const last = rnd() < 0.9 ? '0' : pick(rnd, ['0;x=y', '00', '0 ', '0\t']);
  const trailer = rnd() < 0.8 ? '' : pick(rnd, TRAILERS);
  return `${out}${last}\r\n${trailer}${rnd() < 0.9 ? '\r\n' : pick(rnd, EOLS)}`;
}

function message(rnd: () => number): string {
  const clean = rnd() < 0.4;
  const method = clean ? pick(rnd, ['GET', 'POST']) : pick(rnd, METHODS);
  const target = clean ? '/' : pick(rnd, TARGETS);
  const version = clean ? 'HTTP/1.1' : pick(rnd, VERSIONS);
  const eol = (): string => (clean || rnd() < 0.85 ? '\r\n' : pick(rnd, EOLS));
  let head = `${method} ${target} ${version}${eol()}`;
  const fields = clean ? ['Host: h'] : Array.from({ length: Math.floor(rnd() * 4) }, () => pick(rnd, FIELDS));
  if (!clean && rnd() < 0.7) fields.unshift('Host: h');
  if (clean && method === 'POST')
    fields.push(rnd() < 0.5 ? 'Content-Length: 3' : 'Transfer-Encoding: chunked');
  for (const f of fields) head += `${f}${eol()}`;
  head += eol();
  const chunked = fields.some((f) => /^transfer-encoding/i.test(f));
  const length = fields.some((f) => /^content-length/i.test(f));
  if (chunked && (clean || rnd() < 0.8)) return head + chunkedBody(rnd);
  if (length || rnd() < 0.2) return `${head}abc`;
  return head;
}

/** Random byte edits: replace, insert or delete bytes drawn from the ones that matter to framing. */
function mutate(rnd: () => number, s: string): string {
  const bytes = [
    '\r',
    '\n',
    '\r\n',
    '\0',
    ' ',
    '\t',
    ':',
    ';',
    '"',
    '0',
    '1',
    'a',
    'f',
    '\x7f',
    '\xff',
    ',',
    '\\',
  ];
  let out = s;
  const edits = 1 + Math.floor(rnd() * 3);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rnd() * (out.length + 1));
    const r = rnd();
    const b = pick(rnd, bytes);
    if (r < 0.4) out = out.slice(0, at) + b + out.slice(at + 1);
    else if (r < 0.8) out = out.slice(0, at) + b + out.slice(at);
    else out = out.slice(0, at) + out.slice(at + 1);
  }
  return out;
}

/** The i-th input of a seeded run: 1-3 pipelined requests, mutated half of the time. */
export function generate(rnd: () => number): Buffer {
  let s = '';
  const n = 1 + Math.floor(rnd() * 3);
  for (let i = 0; i < n; i++) s += message(rnd);
  if (rnd() < 0.5) s = mutate(rnd, s);
  return Buffer.from(s, 'latin1');
}

export interface FuzzReport {
  readonly messages: number;
  /** Inputs Rewind and llhttp framed the same way and both accepted whole. */
  readonly agreed: number;
  /** Inputs Rewind rejected (somewhere) that llhttp accepted: the allowed strictness. */
  readonly stricter: number;
  readonly failures: { input: string; problem: string }[];
  readonly ms: number;
}

/** Run `count` inputs (or until `untilMs` passes) from `seed`; stops collecting after 10 failures. */
export function fuzz(seed: number, count: number, untilMs = Number.POSITIVE_INFINITY): FuzzReport {
  const rnd = prng(seed);
  const t0 = performance.now();
  let agreed = 0;
  let stricter = 0;
  let messages = 0;
  const failures: { input: string; problem: string }[] = [];
  while (messages < count && failures.length < 10) {
    if ((messages & 255) === 0 && performance.now() - t0 > untilMs) break;
    const input = generate(rnd);
    messages++;
    const r = rewindFrame(input);
    const l = llhttpFrame(input);
    const problem = compareFraming(r, l);
    if (problem !== undefined) failures.push({ input: JSON.stringify(input.toString('latin1')), problem });
    else if (r.error !== undefined && l.requests.length > r.requests.length) stricter++;
    else if (r.error === undefined && l.error === undefined) agreed++;
  }
  return { messages, agreed, stricter, failures, ms: performance.now() - t0 };
}
