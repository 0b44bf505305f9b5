// Maintenance mode in the data plane: a table with `maintenance` is answered 503, Retry-After and
// the page by every worker, on the connections already open too; a forced request still reaches
// its revision; a replaced worker answers the same; the next table without it serves again.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import {
  backend,
  rawExchange,
  request,
  table,
  upstream,
  waitFor,
} from '../../../../test/support/proxy-fixtures.ts';
import { createDataPlane, validateTable } from './data-plane.ts';
import { maintenanceAnswers } from './routing.ts';

const PAGE = '<!doctype html><title>Back soon</title><p>Ünïcode ✓</p>\n';
const maintenance = { retryAfterSeconds: 120, page: PAGE };

test('the answers: 503, Retry-After, the page as UTF-8 with its byte length, HEAD without it', () => {
  const a = maintenanceAnswers(maintenance);
  const text = a.keepAlive.toString('utf8');
  assert.match(text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  assert.match(text, /\r\nretry-after: 120\r\n/);
  assert.match(text, /\r\ncontent-type: text\/html; charset=utf-8\r\n/);
  assert.match(text, /\r\ncache-control: no-store\r\n/);
  assert.match(text, new RegExp(`\\r\\ncontent-length: ${Buffer.byteLength(PAGE)}\\r\\n`));
  assert.ok(text.endsWith(`\r\n\r\n${PAGE}`));
  assert.doesNotMatch(text, /connection: close/);
  assert.match(a.close.toString('latin1'), /\r\nconnection: close\r\n/);
  assert.equal(a.head.toString('latin1'), text.slice(0, text.indexOf('\r\n\r\n') + 4));
  assert.ok(a.headClose.toString('latin1').endsWith('connection: close\r\n\r\n'));
});

test('a table with maintenance: every request 503 with the page, none reaches the upstream; forced ones do', async () => {
  const a = await upstream('A');
  const dp = await createDataPlane({ workers: 2 });
  try {
    await dp.setRoutes(table('shop', 1, [backend(1, 100, a.port)]));
    const port = dp.port('shop') as number;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    assert.equal((await request(port, { agent })).status, 200);

    await dp.setRoutes(table('shop', 2, [backend(1, 100, a.port)], { maintenance }));
    const before = a.stats.requests;
    // Kept-alive connections and new ones alike, on either worker.
    for (let i = 0; i < 20; i++) {
      const r = await request(port, i % 2 ? { agent } : {});
      assert.equal(r.status, 503);
      assert.equal(r.headers['retry-after'], '120');
      assert.equal(r.body.toString('utf8'), PAGE);
    }
    const post = await request(port, { agent, method: 'POST', body: 'x'.repeat(5000) });
    assert.equal(post.status, 503);
    assert.equal(post.body.toString('utf8'), PAGE);
    const head = await request(port, { method: 'HEAD' });
    assert.equal(head.status, 503);
    assert.equal(head.body.length, 0);
    assert.equal(a.stats.requests, before, 'no request reached the upstream');

    // A tester (loopback is trusted) still reaches the revision behind the page.
    const forced = await request(port, { headers: { 'x-rewind-revision': '1' } });
    assert.equal(forced.status, 200);
    assert.equal(forced.body.toString(), 'A');
    // A request whose body is still coming is answered, then the connection closes.
    const raw = await rawExchange(port, 'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabc');
    assert.match(raw, /^HTTP\/1\.1 503 [\s\S]*connection: close\r\n\r\n/);

    await dp.setRoutes(table('shop', 3, [backend(1, 100, a.port)]));
    for (let i = 0; i < 6; i++) assert.equal((await request(port, { agent })).status, 200);
    agent.destroy();
  } finally {
    await dp.close();
    await a.close();
  }
});

test('a replaced proxy worker answers maintenance too', async () => {
  const a = await upstream('A');
  const dp = await createDataPlane({ workers: 2 });
  try {
    await dp.setRoutes(table('shop', 1, [backend(1, 100, a.port)], { maintenance }));
    const port = dp.port('shop') as number;
    await dp.killWorker(0);
    await waitFor(() => dp.health().up === 2 && dp.health().restarts === 1, 30_000);
    // Then the other one: only the replacement serves.
    await dp.killWorker(0);
    for (let i = 0; i < 10; i++) assert.equal((await request(port)).status, 503);
    await waitFor(() => dp.health().up === 2 && dp.health().restarts === 2, 30_000);
  } finally {
    await dp.close();
    await a.close();
  }
});

test('a table with a malformed maintenance is refused, naming the field', () => {
  const t = (m: unknown) =>
    table('shop', 1, [], { maintenance: m as { retryAfterSeconds: number; page: string } });
  assert.throws(
    () => validateTable(t({ retryAfterSeconds: 0, page: 'x' })),
    /maintenance.retryAfterSeconds is 0/,
  );
  assert.throws(() => validateTable(t({ retryAfterSeconds: 1.5, page: 'x' })), /retryAfterSeconds is 1.5/);
  assert.throws(() => validateTable(t({ retryAfterSeconds: 60, page: '' })), /maintenance.page is empty/);
  validateTable(t({ retryAfterSeconds: 60, page: 'x' }));
});
