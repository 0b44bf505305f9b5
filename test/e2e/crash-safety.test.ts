// The controller may die at any instant: the app keeps serving, a restarted server adopts what
// runs, resumes the rollout, and no process is left behind.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  alive,
  canaryShopConfig,
  type Harness,
  oneShopConfig,
  pausingCanary,
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
    // The banner comes after the apps are adopted, which may be after /healthz first answers.
    await waitFor('the restarted server to say it adopted the apps', async () =>
      /adopted running apps/.test(h.output()),
    );
    assert.deepEqual(runningPids(await status()), before);
    assert.deepEqual(processesIn(h.dir), before);
  });

  // Six deploys, each with a kill and a restart: on a loaded machine that outlasts the default 120 s.
  test('a server killed at any point of a deploy resumes it; nothing fails, nothing is orphaned', {
    timeout: 600_000,
  }, async () => {
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
        // What the agent and the instances said: who stopped what, and when.
        const agentLog = readFileSync(join(h.dir, 'data', 'agent.log'), 'utf8')
          .split('\n')
          .slice(-40);
        const logs = await h.cli('logs', 'shop', '--tail', '60');
        assert.fail(
          `killed after ${delay} ms: stable ${final.stableVersion}, not v${version}\nrollouts: ${rollouts}\n${h.output().split('\n').slice(-25).join('\n')}\n` +
            `agent:\n${agentLog.join('\n')}\ninstance logs:\n${logs.stdout}${logs.stderr}`,
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

describe("crash safety of the analysis: a rule's `for` window survives a SIGKILLed controller", () => {
  // Each rule must hold for 20s. The controller is killed 10s into the breach and restarted: the
  // rollback comes about 10s later, as it would have without the restart, not 20s after it. A window
  // started afresh would begin at the restarted controller's first evaluation (at the earliest 2s of
  // health before it), so it could not end before restartedAt + 17s.
  const WINDOW_MS = 20_000;
  const KILL_INTO_BREACH_MS = 10_000;
  const FRESH_WINDOW_ENDS_MS = WINDOW_MS - 5_000;
  let h: Harness;
  interface Rollout {
    id: string;
    phase: string;
    toRevision: number;
    state: { weight: number; analysis?: { since: number } | null };
  }
  interface Decision {
    at: number;
    type: string;
    rolloutId: string;
    data: { trigger: { rule?: string; breachingSince?: number; message: string } };
  }
  const status = async () =>
    (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop`)).json()) as {
      stableVersion: string;
      activeRollout: Rollout | null;
      instances: { revision: number; health: string; phase: string }[];
    };
  const decision = async (rolloutId: string) => {
    const events = (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop/events`)).json()) as Decision[];
    return events.find((e) => e.rolloutId === rolloutId && e.type === 'analysis.decision');
  };

  /** The deciding breach began well before the kill, and the rollback came before a fresh window could end. */
  function assertCarriedOver(decided: Decision, killedAt: number, restartedAt: number) {
    const since = decided.data.trigger.breachingSince;
    assert.ok(
      since !== undefined && since < killedAt - KILL_INTO_BREACH_MS / 2,
      `breaching since ${since === undefined ? 'unknown' : `${killedAt - since} ms before the kill`}`,
    );
    assert.ok(
      decided.at < restartedAt + FRESH_WINDOW_ENDS_MS,
      `decided ${decided.at - restartedAt} ms after the restart (${restartedAt - killedAt} ms to restart)`,
    );
  }

  /** Kills the controller `KILL_INTO_BREACH_MS` after the breach began, restarts it, and returns the decision. */
  async function killMidWindow(rolloutId: string, breachBegan: number) {
    await waitFor(
      `${KILL_INTO_BREACH_MS} ms of breach`,
      async () => Date.now() - breachBegan >= KILL_INTO_BREACH_MS,
      KILL_INTO_BREACH_MS + 5_000,
    );
    assert.equal(
      await decision(rolloutId),
      undefined,
      'no decision before the kill: the window has not ended',
    );
    const killedAt = Date.now();
    await h.kill('SIGKILL');
    await h.restart();
    const restartedAt = Date.now();
    const decided = await waitFor('the rollback decision', () => decision(rolloutId), 90_000);
    // The stable version never left v1 during the canary: wait for the rollback itself to finish.
    await waitFor(
      'the rollback to finish on v1',
      async () => {
        const s = await status();
        return s.stableVersion === 'v1' && s.activeRollout === null;
      },
      30_000,
    );
    return { killedAt, restartedAt, decided };
  }

  before(async () => {
    h = await startRewind({
      config: (appPort) =>
        oneShopConfig(
          appPort,
          `${pausingCanary}    analysis:
      canaryJudgment: { enabled: false }
      beforeAfter: { enabled: false }
      serviceDown: { enabled: false }
      rules:
        - { name: errors, metric: errorRate, above: 0.05, for: 20s, minSample: 20, severity: P0 }
        - { name: sick, metric: healthFailing, above: 0, for: 20s, severity: P0 }
`,
        ),
    });
    await waitFor('v1', async () => (await fetch(h.appUrl)).headers.get('x-shop-version') === 'v1');
  });
  after(async () => {
    await h?.close();
  });

  test('an error-rate window: the restarted controller rolls back when the first would have, with the breach that began before the kill', async () => {
    const load = startLoad(`${h.appUrl}/products`, 4);
    try {
      const r = await h.cli('deploy', 'shop', '--version', 'v2', '--env', 'SHOP_ERROR_RATE=0.3', '--json');
      assert.equal(r.code, 0, r.stderr);
      // Errors begin with the canary's first requests: the analysis records that moment.
      const rollout = await waitFor('the canary to take traffic', async () => {
        const a = (await status()).activeRollout;
        return a?.state.analysis?.since ? a : undefined;
      });
      const since = rollout.state.analysis!.since;
      const { killedAt, restartedAt, decided } = await killMidWindow(rollout.id, since);
      const trigger = decided.data.trigger;
      assert.equal(trigger.rule, 'errors', trigger.message);
      // The window was honoured (not decided early) ...
      assert.ok(
        decided.at >= since + WINDOW_MS - 2_000,
        `decided ${decided.at - since} ms after the breach began`,
      );
      assertCarriedOver(decided, killedAt, restartedAt);
      assert.match(trigger.message, /error rate .* above 5% for \d+s/);
    } finally {
      await load.stop();
    }
  });

  test('a health window, which only the controller saw: kept in the store, it survives the kill too', async () => {
    const sickFile = join(h.dir, 'v3-sick');
    const r = await h.cli(
      'deploy',
      'shop',
      '--version',
      'v3',
      '--env',
      `SHOP_HEALTH_FAIL_FILE=${sickFile}`,
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const rollout = await waitFor('the canary to pause at 50%', async () => {
      const a = (await status()).activeRollout;
      return a?.phase === 'Paused' && a.state.weight === 50 ? a : undefined;
    });
    writeFileSync(sickFile, 'sick\n');
    await waitFor('v3 unhealthy', async () =>
      (await status()).instances.some((i) => i.revision === rollout.toRevision && i.health === 'Unhealthy'),
    );
    const sickSeen = Date.now();
    const { killedAt, restartedAt, decided } = await killMidWindow(rollout.id, sickSeen);
    const trigger = decided.data.trigger;
    assert.equal(trigger.rule, 'sick', trigger.message);
    assertCarriedOver(decided, killedAt, restartedAt);
    const [incident] = (await (await h.fetch(`${h.apiUrl}/api/v1/incidents`)).json()) as {
      id: string;
      trigger: { rule?: string; breachingSince?: number };
    }[];
    assert.equal(incident?.trigger.rule, 'sick');
    assert.equal(incident?.trigger.breachingSince, trigger.breachingSince);
    const md = await h.cli('incidents', 'show', incident!.id);
    assert.match(md.stdout, /Breaching since/);
  });
});

describe('crash safety of a rollback: its verification is journalled, not held in memory', () => {
  let h: Harness;
  const status = async () => (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop`)).json()) as Status;
  const incidents = async () =>
    JSON.parse((await h.cli('incidents', '--json')).stdout) as { id: string; status: string }[];

  before(async () => {
    h = await startRewind();
    await waitFor('v1 to serve', async () => (await status()).stableRevision === 1);
    assert.equal((await h.cli('deploy', 'shop', '--version', 'v2')).code, 0);
    await waitFor('v2 to be stable', async () => (await status()).stableVersion === 'v2', 60_000);
  });
  after(async () => {
    await h?.close();
  });

  test('given a server SIGKILLed right after a rollback, the restarted server verifies it and the incident is Verifying', async () => {
    const r = await h.cli('rollback', 'shop', '--reason', 'e2e', '--json');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rollout = JSON.parse(r.stdout) as {
      id: string;
      phase: string;
      state: { verification?: { status: string; dueAt: number } };
    };
    // A warm rollback has ended when the command answers; its verification is due seconds later.
    assert.equal(rollout.phase, 'Completed');
    assert.equal(rollout.state.verification?.status, 'Pending');
    await h.kill('SIGKILL');
    const killedAt = Date.now();
    assert.ok(killedAt < rollout.state.verification!.dueAt, 'killed before the verification was due');
    await h.restart();
    const restartedAt = Date.now();

    const [incident] = await waitFor(
      'the incident to be verified after the restart',
      async () => {
        const list = await incidents();
        return list.length === 1 && list[0]!.status !== 'Open' && list;
      },
      60_000,
    );
    assert.equal(incident!.status, 'Verifying', 'verified, then watched (verify.watch)');
    const events = (await (await h.fetch(`${h.apiUrl}/api/v1/rollouts/${rollout.id}/events`)).json()) as {
      type: string;
      at: number;
    }[];
    const verified = events.filter((e) => e.type === 'rollout.verified');
    assert.equal(verified.length, 1, JSON.stringify(events.map((e) => e.type)));
    assert.ok(verified[0]!.at >= restartedAt, 'verified by the restarted server');
    const after = (await (await h.fetch(`${h.apiUrl}/api/v1/rollouts/${rollout.id}`)).json()) as {
      state: { verification?: { status: string } };
    };
    assert.equal(after.state.verification?.status, 'Watching', 'the watch after it journalled');
  });
});
