import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareFraming, fuzz, llhttpFrame, rewindFrame } from '../../../../test/support/http-fuzz.ts';
import { CHUNKED_ERROR, ChunkScanner } from './chunked.ts';
import { DEFAULT_LIMITS, HEAD_INCOMPLETE, HEAD_INVALID, Head } from './http-head.ts';

const parse = (s: string, request = true) => {
  const h = new Head();
  const r = h.parse(Buffer.from(s, 'latin1'), 0, request, DEFAULT_LIMITS);
  return { r, h };
};

test('a valid request head: framing, hop-by-hop and upgrade flags from one pass', () => {
  const s = 'POST /a?b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc';
  const { r, h } = parse(s);
  assert.equal(r, s.length - 3);
  assert.equal(h.contentLength, 3);
  assert.equal(h.chunked, false);
  assert.equal(h.close, false);
  assert.equal(h.hop, true);
  assert.equal(h.count, 3);
  const up = parse('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n').h;
  assert.equal(up.upgrade, true);
  assert.equal(parse('GET / HTTP/1.0\r\n\r\n').h.close, true);
  assert.equal(parse('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n').h.close, false);
  // Connection options in any case and order, over several fields; other names mark fields to drop.
  const many = parse(
    'GET / HTTP/1.1\r\nHost: x\r\nConnection: X-Trace,\tKEEP-alive\r\nConnection: Close\r\n\r\n',
  ).h;
  assert.deepEqual([many.close, many.connectionNames, many.upgrade], [true, true, false]);
  const plain = parse('GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, upgrade\r\n\r\n').h;
  assert.deepEqual([plain.close, plain.connectionNames, plain.upgrade], [false, false, false]);
});

test('incomplete heads wait for more bytes at every split; limits apply before the end arrives', () => {
  const s = 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\r\n';
  for (let i = 1; i < s.length; i++) assert.equal(parse(s.slice(0, i)).r, HEAD_INCOMPLETE, `split ${i}`);
  const h = new Head();
  const limits = { requestLine: 64, headerLine: 64, head: 256 };
  assert.equal(h.parse(Buffer.from(`GET /${'a'.repeat(80)}`), 0, true, limits), HEAD_INVALID);
  assert.equal(h.status, 414);
  assert.equal(h.parse(Buffer.from(`GET / HTTP/1.1\r\nX: ${'a'.repeat(80)}`), 0, true, limits), HEAD_INVALID);
  assert.equal(h.status, 431);
});

test('responses: status code, framing, and 502 for what a request would get 400 for', () => {
  const { r, h } = parse('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n', false);
  assert.ok(r > 0);
  assert.equal(h.code, 204);
  assert.equal(h.close, true);
  const bad = parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n', false).h;
  assert.equal(bad.status, 502);
});

test('ChunkScanner: extension grammar, trailer lines, overflow', () => {
  const ok = ['1;a=b\r\nx\r\n0\r\n\r\n', '1;a="q \\" d";b\r\nx\r\n0\r\nT: v\r\n\r\n', '0000\r\n\r\n'];
  for (const body of ok) {
    const s = new ChunkScanner();
    assert.equal(s.scan(Buffer.from(body, 'latin1'), 0), body.length, body);
  }
  const bad = [
    '1 \r\nx\r\n0\r\n\r\n',
    '1;\r\nx\r\n',
    '1;a=\x01\r\n',
    '1;a="\x00"\r\n',
    '0\r\nT: v\n\r\n',
    '0\r\nT : v\r\n\r\n',
    '0\r\n folded\r\n',
    `${'f'.repeat(20)}\r\n`,
  ];
  for (const body of bad) {
    const s = new ChunkScanner();
    assert.equal(s.scan(Buffer.from(body, 'latin1'), 0), CHUNKED_ERROR, JSON.stringify(body));
  }
});

test('the harness reports a body or a request count that differs from llhttp', () => {
  const smuggle = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n');
  const l = llhttpFrame(smuggle);
  assert.equal(l.requests.length, 2);
  assert.equal(compareFraming(rewindFrame(smuggle), l), undefined);
  // A framing that read the second request's head as a body would be reported.
  const wrong = {
    requests: [{ method: 'GET', target: '/', body: 'GET /b', upgrade: false }],
    error: undefined,
  };
  assert.match(compareFraming(wrong, l) ?? '', /bodies differ/);
  const accepted = {
    requests: [...l.requests, { method: 'GET', target: '/c', body: '', upgrade: false }],
    error: undefined,
  };
  assert.match(compareFraming(accepted, l) ?? '', /Rewind accepted GET \/c/);
});

test('differential fuzz against llhttp: a seeded budget of generated and mutated requests frames the same', () => {
  const r = fuzz(Number(process.env.REWIND_FUZZ_SEED ?? 20261202), 1_000_000, 2000);
  assert.deepEqual(r.failures, [], 'inputs framed differently');
  assert.ok(r.messages >= 5000, `ran ${r.messages} inputs`);
  assert.ok(r.agreed > 0 && r.stricter > 0, 'both outcomes exercised');
});
