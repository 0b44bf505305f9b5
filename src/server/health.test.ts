import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AgentStatus } from '../providers/builtin/agent/agent-watch.ts';
import { createHealth } from './health.ts';

const agent = (change: Partial<AgentStatus> = {}): AgentStatus => ({
  state: 'up',
  pid: 4242,
  reason: null,
  since: 0,
  restarts: 0,
  info: {
    pid: 4242,
    startedAt: 0,
    version: '0',
    dataDir: '/secret/data',
    routes: 1,
    dataPlane: { workers: 2, up: 2, restarts: 0, lastExit: null },
  },
  ...change,
});

test('healthy: every part up; ready once every table is applied', async () => {
  let pending = ['shop'];
  const h = createHealth({
    pingStore: async () => [],
    agent: () => agent(),
    appsWithoutRoutes: () => pending,
  });
  assert.deepEqual(await h.health(), {
    status: 'ok',
    checks: { store: { ok: true }, agent: { ok: true }, proxy: { ok: true, workers: 2, up: 2, restarts: 0 } },
  });
  assert.deepEqual(await h.ready(), { ready: false, reasons: ['route tables not applied yet: shop'] });
  pending = [];
  assert.deepEqual(await h.ready(), { ready: true, reasons: [] });
});

test('degraded, in words that name no pid, path or error', async () => {
  let status = agent({ state: 'down', reason: 'the agent (pid 4242) died: /secret/data/agent.sock' });
  const h = createHealth({
    pingStore: () => Promise.reject(new Error('SQLITE_IOERR /secret/data/rewind.db')),
    agent: () => status,
    appsWithoutRoutes: () => [],
  });
  const down = await h.health();
  assert.equal(down.status, 'degraded');
  assert.deepEqual(down.checks.store, { ok: false, reason: 'the store does not answer' });
  assert.deepEqual(down.checks.agent, { ok: false, reason: 'the agent is down; it is being restarted' });
  assert.equal(down.checks.proxy?.ok, false);
  assert.ok(!/4242|secret|SQLITE/.test(JSON.stringify(down)), JSON.stringify(down));
  assert.equal((await h.ready()).ready, false);

  const info = agent().info!;
  status = agent({
    info: { ...info, dataPlane: { workers: 2, up: 1, restarts: 3, lastExit: { at: 1, reason: 'x' } } },
  });
  const worker = await h.health();
  assert.deepEqual(worker.checks.proxy, {
    ok: false,
    reason: '1 of 2 proxy workers serve; the others are being replaced',
    workers: 2,
    up: 1,
    restarts: 3,
  });
  status = agent({ state: 'unresponsive' });
  assert.deepEqual((await h.health()).checks.agent, { ok: false, reason: 'the agent does not answer' });
});

test('a store that hangs counts as unreachable after the timeout', async () => {
  const h = createHealth({
    pingStore: () => new Promise(() => {}),
    appsWithoutRoutes: () => [],
    storeTimeoutMs: 50,
  });
  assert.deepEqual(await h.health(), {
    status: 'degraded',
    checks: { store: { ok: false, reason: 'the store does not answer' } },
  });
});

test('a dead OFREP worker makes /healthz degraded until it is restarted', async () => {
  let ofrep: { ok: boolean; reason?: string; restarts: number } = {
    ok: false,
    reason: 'the OFREP worker is down; it is being restarted',
    restarts: 0,
  };
  const h = createHealth({ pingStore: async () => [], appsWithoutRoutes: () => [], ofrep: () => ofrep });
  assert.deepEqual(await h.health(), { status: 'degraded', checks: { store: { ok: true }, ofrep } });
  ofrep = { ok: true, restarts: 1 };
  assert.deepEqual(await h.health(), { status: 'ok', checks: { store: { ok: true }, ofrep } });
});
