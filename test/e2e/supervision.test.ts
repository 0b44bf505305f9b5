// The data plane fails safe: an agent killed under load comes back by itself with the stable
// revision and its routes, /healthz says so while it is down, and one data dir has one server.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  alive,
  canaryShopConfig,
  freePort,
  type Harness,
  ROOT,
  startLoad,
  startRewind,
  waitFor,
} from '../support/rewind-harness.ts';

interface Health {
  status: string;
  checks: Record<string, { ok: boolean; reason?: string }>;
}

/** Polls a URL until stopped; keeps every distinct (status, body) answer in order. */
function watchEndpoint(url: string) {
  let running = true;
  const seen: { status: number; body: string }[] = [];
  const loop = (async () => {
    while (running) {
      // A bounded wait: a request stuck on a dead socket must not hold stop() forever.
      const r = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
        async (res) => ({ status: res.status, body: await res.text() }),
        (err: Error) => ({ status: 0, body: err.message }),
      );
      const last = seen.at(-1);
      if (!last || last.status !== r.status || last.body !== r.body) seen.push(r);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
  return {
    seen,
    async stop() {
      running = false;
      await loop;
      return seen;
    },
  };
}

const agentPid = (h: Harness) => Number(readFileSync(join(h.dataDir, 'agent.pid'), 'utf8'));

describe('supervision', () => {
  let h: Harness;

  before(async () => {
    h = await startRewind({ env: { REWIND_LOG_LEVEL: 'info' } });
    await waitFor('v1 to serve', async () => (await fetch(`${h.appUrl}/products`)).ok);
    await waitFor('the server to be ready', async () => (await fetch(`${h.apiUrl}/readyz`)).ok);
  });
  after(async () => {
    await h?.close();
  });

  test('given an app under load, when the agent is killed with SIGKILL, traffic comes back by itself', async () => {
    const healthz = watchEndpoint(`${h.apiUrl}/healthz`);
    const readyz = watchEndpoint(`${h.apiUrl}/readyz`);
    const load = startLoad(`${h.appUrl}/products`, 4);
    await waitFor('load to flow', async () => load.stats.ok > 20);
    const killed = agentPid(h);
    process.kill(killed, 'SIGKILL');
    await waitFor('the agent to be gone', async () => !alive(killed));
    const failedAtKill = load.stats.failed;
    // No manual step: the server notices, starts a new agent, which listens again, and the
    // controller starts the stable revision's instances on it.
    await waitFor(
      'requests to fail (the apps died with the agent)',
      async () => load.stats.failed > failedAtKill,
    );
    const okAfterOutage = load.stats.ok;
    await waitFor('a 200 through the proxy again', async () => load.stats.ok > okAfterOutage + 20, 30_000);
    await waitFor(
      '/healthz to say ok',
      async () => (await fetch(`${h.apiUrl}/healthz`)).status === 200,
      30_000,
    );
    await waitFor(
      '/readyz to say ready',
      async () => (await fetch(`${h.apiUrl}/readyz`)).status === 200,
      30_000,
    );
    await load.stop();
    const health = await healthz.stop();
    const ready = await readyz.stop();

    // Every request succeeds again.
    const after = startLoad(`${h.appUrl}/products`, 4);
    await waitFor('200 requests more', async () => after.stats.ok + after.stats.failed >= 200);
    const stats = await after.stop();
    assert.equal(stats.failed, 0, stats.errors.join('\n'));

    const newPid = agentPid(h);
    assert.notEqual(newPid, killed);
    assert.ok(alive(newPid));

    // /healthz told the truth meanwhile: degraded (503) naming the agent, then ok.
    const degraded = health.filter((r) => r.status === 503);
    assert.ok(
      degraded.length > 0,
      `no 503 from /healthz while the agent was down: ${JSON.stringify(health)}`,
    );
    const bodies = degraded.map((r) => JSON.parse(r.body) as Health);
    for (const body of bodies) {
      assert.equal(body.status, 'degraded');
      assert.equal(body.checks.agent?.ok, false);
    }
    assert.ok(
      bodies.some((b) => /the agent is down; it is being restarted/.test(b.checks.agent?.reason ?? '')),
      JSON.stringify(bodies),
    );
    for (const r of degraded) {
      assert.ok(!r.body.includes(String(killed)), 'the public answer names no pid');
      assert.ok(!r.body.includes(h.dir), 'the public answer names no path');
    }
    assert.equal(health.at(-1)?.status, 200);
    assert.ok(
      ready.some((r) => r.status === 503),
      `/readyz said ready throughout: ${JSON.stringify(ready)}`,
    );

    // The log says what happened, once each, not ten times a second.
    const log = h.output();
    assert.match(log, /agent died; starting a new one/);
    assert.match(log, /agent restarted; it restored its route tables/);
    assert.match(log, /starting a stable instance that is gone/);
    assert.match(log, /routes restored/);
    const failures = log.split('\n').filter((l) => /reconcile failed/.test(l));
    assert.ok(
      failures.length <= 1,
      `reconcile failures logged ${failures.length} times:\n${failures.join('\n')}`,
    );
  });

  test('a second server on the same data dir is refused, naming the pid that holds it', async () => {
    const agentBefore = agentPid(h);
    const port = await freePort();
    const second = spawn(
      process.execPath,
      [
        join(ROOT, 'bin/rewind.js'),
        'server',
        '--config',
        h.configFile,
        '--data-dir',
        h.dataDir,
        '--port',
        String(port),
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    second.stderr.on('data', (d) => (stderr += d));
    second.stdout.resume();
    const code = await new Promise<number | null>((resolve) => second.on('exit', (c) => resolve(c)));
    assert.equal(code, 1, stderr);
    assert.match(
      stderr,
      new RegExp(`another rewind server \\(pid ${h.server.pid}\\) holds the data dir ${h.dataDir}`),
    );
    // It touched nothing: the same agent serves, the first server still answers.
    assert.equal(agentPid(h), agentBefore);
    assert.ok(alive(agentBefore));
    assert.equal((await fetch(`${h.appUrl}/products`)).status, 200);
    assert.equal((await fetch(`${h.apiUrl}/healthz`)).status, 200);
  });

  test('a server killed with SIGKILL leaves no stale lock: its restart gets the data dir at once', async () => {
    const first = h.server.pid;
    await h.kill('SIGKILL');
    await h.restart();
    assert.notEqual(h.server.pid, first);
    assert.equal(
      Number(readFileSync(join(h.dataDir, 'server.pid'), 'utf8')),
      h.server.pid,
      'the new server holds the lock',
    );
    assert.equal((await fetch(`${h.apiUrl}/healthz`)).status, 200);
  });
});

describe('supervision of a canary', () => {
  let h: Harness;
  const status = async () =>
    (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop`)).json()) as {
      stableVersion: string;
      activeRollout: { phase: string; state: { weight: number } } | null;
      traffic: { revision: number; weight: number }[];
      instances: { revision: number; phase: string }[];
    };

  before(async () => {
    h = await startRewind({ config: canaryShopConfig, env: { REWIND_LOG_LEVEL: 'info' } });
    await waitFor('v1 to serve', async () => (await fetch(`${h.appUrl}/products`)).ok);
  });
  after(async () => {
    await h?.close();
  });

  test('an agent killed while a canary waits at 40% comes back with both revisions at the same split', async () => {
    assert.equal((await h.cli('deploy', 'shop', '--version', 'v2')).code, 0);
    await waitFor(
      'the canary to pause at 40%',
      async () => (await status()).activeRollout?.phase === 'Paused',
    );
    const killed = agentPid(h);
    process.kill(killed, 'SIGKILL');
    await waitFor('the agent to be gone', async () => !alive(killed));
    await waitFor('a new agent', async () => agentPid(h) !== killed && alive(agentPid(h)), 30_000);
    let last: unknown;
    try {
      await waitFor(
        'both revisions running again',
        async () => {
          const s = await status();
          last = s.instances;
          const running = s.instances.filter((i) => i.phase === 'Running');
          return new Set(running.map((i) => i.revision)).size === 2 && running.length === 4;
        },
        60_000,
      );
    } catch (err) {
      throw new Error(
        `${(err as Error).message}\ninstances: ${JSON.stringify(last)}\n${h.output().split('\n').slice(-40).join('\n')}`,
      );
    }
    await waitFor('/readyz', async () => (await fetch(`${h.apiUrl}/readyz`)).ok, 30_000);
    // Both versions serve again, at the split the canary stood at.
    const load = startLoad(`${h.appUrl}/products`, 4);
    await waitFor(
      'both versions in 400 requests',
      async () => load.stats.ok + load.stats.failed >= 400,
      30_000,
    );
    const stats = await load.stop();
    assert.equal(stats.failed, 0, stats.errors.join('\n'));
    const v2 = stats.versions.get('v2') ?? 0;
    assert.ok(v2 > 0.25 * stats.ok && v2 < 0.55 * stats.ok, `v2 served ${v2} of ${stats.ok}`);
    const s = await status();
    assert.equal(s.activeRollout?.phase, 'Paused');
    assert.deepEqual(
      s.traffic.map((t) => t.weight).sort((a, b) => a - b),
      [40, 60],
    );
    assert.match(h.output(), /starting an instance lost with the agent/);
    // And the rollout finishes as it would have.
    assert.equal((await h.cli('promote', 'shop')).code, 0);
    await waitFor('v2 to be stable', async () => (await status()).stableVersion === 'v2', 30_000);
  });
});
