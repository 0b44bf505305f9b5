import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { checkName, probeHttp, runCheck, runCommand } from './probe.ts';

describe('probes and pre-promotion checks', () => {
  const server = createServer((req, res) => {
    if (req.url === '/slow') return void setTimeout(() => res.end('late'), 500);
    res.writeHead(req.url === '/ok' ? 200 : 503).end(req.headers['x-rewind-revision'] ?? '');
  });
  let base: string;
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  test('http probes: expected status, wrong status, timeout, refused', async () => {
    assert.equal((await probeHttp(`${base}/ok`, { timeoutMs: 1000 })).ok, true);
    const wrong = await probeHttp(`${base}/bad`, { timeoutMs: 1000 });
    assert.equal(wrong.ok, false);
    assert.match(wrong.detail, /answered 503, expected 200/);
    assert.equal((await probeHttp(`${base}/bad`, { timeoutMs: 1000, expectStatus: 503 })).ok, true);
    assert.match((await probeHttp(`${base}/slow`, { timeoutMs: 100 })).detail, /no answer within 100ms/);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    assert.match((await probeHttp(`http://127.0.0.1:${port}/`, { timeoutMs: 500 })).detail, /ECONNREFUSED/);
  });

  test('command checks: exit code, output in the failure, timeout', async () => {
    const opts = { cwd: '/', env: {}, timeoutMs: 2000, expectExitCode: 0 };
    assert.equal((await runCommand('true', opts)).ok, true);
    const failed = await runCommand('echo "smoke failed: cart empty"; exit 3', opts);
    assert.equal(failed.ok, false);
    assert.match(failed.detail, /exit 3, expected 0\nsmoke failed: cart empty/);
    assert.equal((await runCommand('exit 3', { ...opts, expectExitCode: 3 })).ok, true);
    const slow = await runCommand('sleep 5', { ...opts, timeoutMs: 200 });
    assert.equal(slow.ok, false);
    assert.match(slow.detail, /killed after 200ms/);
    assert.ok(slow.ms < 2000);
    assert.match((await runCommand('no-such-command-here', opts)).detail, /exit 127/);
  });

  test('runCheck reaches the revision through the force header and passes env to commands', async () => {
    const target = { baseUrl: base, headers: { 'x-rewind-revision': '7' }, cwd: '/', env: { WANT: '7' } };
    const http = { http: { path: '/ok', method: 'GET' as const, expectStatus: 200, timeout: 1000 } };
    assert.equal((await runCheck(http, target)).ok, true);
    const cmd = { command: 'test "$WANT" = 7', expectExitCode: 0, timeout: 1000 };
    assert.equal((await runCheck(cmd, target)).ok, true);
    assert.equal(checkName(http), 'GET /ok');
    assert.equal(checkName({ ...cmd, name: 'smoke' }), 'smoke');
  });
});
