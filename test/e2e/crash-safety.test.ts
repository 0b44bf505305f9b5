// The controller may die at any instant: the app keeps serving, a restarted server adopts what
// runs, resumes the rollout, and no process is left behind.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  alive,
  canaryShopConfig,
  type Harness,
  processesIn,
  sleep,
  startLoad,
  startRewind,
  waitFor,
} from '../support/rewind-harness.ts';

interface Status {
  stableRevision: number;
  stableVersion: string;
  activeRollout: { phase: string } | null;
  instances: { pid: number | null; phase: string; revision: number }[];
}

describe('crash safety', () => {
  let h: Harness;
  const status = async () => (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop`)).json()) as Status;
  const runningPids = (s: Status) =>
    s.instances
      .filter((i) => i.phase === 'Running')
      .map((i) => i.pid!)
      .sort((a, b) => a - b);

  before(async () => {
    h = await startRewind();
    await waitFor(
      'v1 to serve',
      async () => (await status()).stableRevision === 1 && (await fetch(h.appUrl)).ok,
    );
  });
  after(async () => {
    await h?.close();
  });

  test('given a SIGKILLed server, the app serves on and a restarted server adopts the same processes', async () => {
    const before = runningPids(await status());
    assert.equal(before.length, 2);
    const load = startLoad(`${h.appUrl}/products`, 4);
    await sleep(200);
    await h.kill('SIGKILL');
    await sleep(500);
    await h.restart();
    await sleep(300);
    const stats = await load.stop();
    assert.equal(stats.failed, 0, stats.errors.join('\n'));
    assert.match(h.output(), /adopted running apps/);
    assert.deepEqual(runningPids(await status()), before);
    assert.deepEqual(processesIn(h.dir), before);
  });

  test('a server killed at any point of a deploy resumes it; nothing fails, nothing is orphaned', async () => {
    const delays = [0, 60, 150, 300, 500, 800];
    let version = 10;
    for (const delay of delays) {
      version++;
      const load = startLoad(`${h.appUrl}/products`, 4);
      const r = await h.cli('deploy', 'shop', '--version', `v${version}`, '--json');
      assert.equal(r.code, 0, r.stderr);
      await sleep(delay);
      await h.kill('SIGKILL');
      await h.restart();
      const final = await waitFor(`deploy v${version} (killed after ${delay} ms) to finish`, async () => {
        const s = await status();
        return s.activeRollout === null && s;
      });
      const stats = await load.stop();
      if (final.stableVersion !== `v${version}`) {
        const rollouts = await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop/rollouts?limit=2`)).text();
        assert.fail(
          `killed after ${delay} ms: stable ${final.stableVersion}, not v${version}\nrollouts: ${rollouts}\n${h.output().split('\n').slice(-25).join('\n')}`,
        );
      }
      assert.equal(stats.failed, 0, `killed after ${delay} ms: ${stats.errors.join('\n')}`);
      // Every process in the app's directory is one the controller knows about.
      const known = (await status()).instances
        .filter((i) => i.pid !== null && i.phase !== 'Stopped')
        .map((i) => i.pid!);
      for (const pid of processesIn(h.dir))
        assert.ok(known.includes(pid), `pid ${pid} is not tracked (killed after ${delay} ms)`);
    }
  });

  test('a server stopped with SIGTERM stops its agent and every app process', async () => {
    const agentPid = Number(readFileSync(join(h.dir, 'data', 'agent.pid'), 'utf8'));
    assert.ok(alive(agentPid));
    assert.ok(processesIn(h.dir).length >= 2);
    const started = Date.now();
    await h.kill('SIGTERM');
    try {
      await waitFor('agent to exit', async () => !alive(agentPid), 10_000);
      await waitFor('app processes to exit', async () => processesIn(h.dir).length === 0, 10_000);
    } catch (err) {
      const agentLog = readFileSync(join(h.dir, 'data', 'agent.log'), 'utf8')
        .split('\n')
        .slice(-30);
      throw new Error(
        `${(err as Error).message} (${Date.now() - started} ms after SIGTERM; server exit ${h.server.exitCode} ${h.server.signalCode})\n` +
          `server:\n${h.output().split('\n').slice(-30).join('\n')}\nagent:\n${agentLog.join('\n')}`,
      );
    }
  });
});

describe('crash safety of a canary', () => {
  let h: Harness;
  const status = async () =>
    (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop`)).json()) as Status & {
      activeRollout: { phase: string; state: { weight: number } } | null;
      traffic: { revision: number; weight: number }[];
    };

  before(async () => {
    h = await startRewind({ config: canaryShopConfig });
    await waitFor('v1 to serve', async () => (await status()).stableRevision === 1);
  });
  after(async () => {
    await h?.close();
  });

  test('a server killed while a canary waits at 40% comes back to the same split, then finishes on promote', async () => {
    assert.equal((await h.cli('deploy', 'shop', '--version', 'v2')).code, 0);
    await waitFor(
      'the canary to pause at 40%',
      async () => (await status()).activeRollout?.phase === 'Paused',
    );
    const load = startLoad(`${h.appUrl}/products`, 4);
    await h.kill('SIGKILL');
    await sleep(300);
    await h.restart();
    const s = await status();
    assert.equal(s.activeRollout?.phase, 'Paused');
    assert.equal(s.activeRollout?.state.weight, 40);
    assert.deepEqual(
      s.traffic.map((t) => t.weight).sort((a, b) => a - b),
      [40, 60],
    );
    assert.equal((await h.cli('promote', 'shop')).code, 0);
    await waitFor('v2 to be stable', async () => (await status()).stableVersion === 'v2');
    const stats = await load.stop();
    assert.equal(stats.failed, 0, stats.errors.join('\n'));
  });
});
