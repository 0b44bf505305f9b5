// Several controllers on one PostgreSQL store: one leads, the other serves reads and refuses what
// acts, naming the leader; the leader SIGKILLed in the middle of a canary is replaced within
// seconds, and the follower resumes that same rollout where it stood (its weight, its pause),
// with no step done twice. Real server processes, each with its own data dir, agent and app port
// (two hosts in one), on a real PostgreSQL database (REWIND_TEST_DATABASE_URL).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createTarget, type TestTarget } from '../support/db-targets.ts';
import {
  type Harness,
  oneShopConfig,
  pausingCanary,
  roleOf,
  startRewind,
  waitFor,
} from '../support/rewind-harness.ts';

interface AppStatus {
  stableVersion: string;
  activeRollout: {
    id: string;
    phase: string;
    state: { weight: number; index: number; paused: unknown };
  } | null;
}
interface EventRow {
  type: string;
  message: string;
  rolloutId?: string | null;
}

const role = roleOf;
const status = async (h: Harness) =>
  (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop`)).json()) as AppStatus;

describe('several controllers on one PostgreSQL store', () => {
  let db: TestTarget;
  let a: Harness;
  let b: Harness;

  before(async () => {
    db = await createTarget('postgres');
    const env = { REWIND_DATABASE_URL: db.url };
    a = await startRewind({ config: (port) => oneShopConfig(port, pausingCanary), env });
    await waitFor('A to lead', async () => (await role(a)) === 'leader');
    await waitFor(
      'v1 on A',
      async () => (await status(a)).stableVersion === 'v1' && (await fetch(a.appUrl)).ok,
    );
    b = await startRewind({ config: (port) => oneShopConfig(port, pausingCanary), env });
  });
  after(async () => {
    await b?.close();
    await a?.close();
    await db?.cleanup();
  });

  test('one leads; the other serves reads and refuses what acts, naming the leader', async () => {
    assert.equal(await role(b), 'follower');
    assert.match(b.output(), /role +follower .*leader: \S+ at http:\/\/127\.0\.0\.1:\d+/);
    assert.equal((await status(b)).stableVersion, 'v1', 'a follower reads the shared store');
    const ready = await fetch(`${b.apiUrl}/readyz`);
    assert.equal(ready.status, 200, 'a follower is ready to serve reads');

    const r = await b.cli('deploy', 'shop', '--version', 'v9', '--json');
    assert.notEqual(r.code, 0);
    const error = JSON.parse(r.stdout || '{}') as { error?: string; code?: string };
    assert.match(
      `${error.error ?? ''}${r.stderr}`,
      new RegExp(
        `the leader is \\S+ at ${a.apiUrl.replace(/[.]/g, '\\.')}: send the request there \\(REWIND_URL=`,
      ),
    );
    const api = await b.fetch(`${b.apiUrl}/api/v1/apps/shop/deploy`, {
      method: 'POST',
      body: JSON.stringify({ version: 'v9' }),
    });
    assert.equal(api.status, 503);
    const body = (await api.json()) as { error: { code: string; details?: { leader?: { url: string } } } };
    assert.equal(body.error.code, 'NOT_LEADER');
    assert.equal((await status(a)).activeRollout, null, 'nothing was started');
  });

  test('the leader SIGKILLed mid-canary: the follower leads within seconds and resumes the same rollout', async () => {
    assert.equal((await a.cli('deploy', 'shop', '--version', 'v2')).code, 0);
    const paused = await waitFor('the canary paused at 50% on A', async () => {
      const s = await status(a);
      return s.activeRollout?.state.weight === 50 && s.activeRollout.phase === 'Paused' && s.activeRollout;
    }).catch(async (err) => {
      throw new Error(`${err.message}: ${JSON.stringify(await status(a))}\n${a.output().slice(-3000)}`);
    });
    const killedAt = performance.now();
    await a.kill('SIGKILL');
    await waitFor('B to lead', async () => (await role(b)) === 'leader', 15_000);
    const failoverMs = performance.now() - killedAt;
    console.log(`# failover: B leads ${failoverMs.toFixed(0)} ms after A's SIGKILL`);
    assert.ok(failoverMs < 5000, `B took ${failoverMs.toFixed(0)} ms to lead`);

    // The same rollout, where it stood: 50%, paused, on B's own instances.
    const resumed = await waitFor(
      'the canary served from B',
      async () => {
        const s = await status(b);
        const res = await fetch(b.appUrl).catch(() => null);
        return res?.ok && s.activeRollout;
      },
      30_000,
    );
    assert.ok(resumed);
    assert.equal(resumed.id, paused.id);
    assert.equal(resumed.state.weight, 50);
    assert.equal(resumed.phase, 'Paused');
    assert.equal(resumed.state.index, paused.state.index);
    // B starts the canary's instances on its own host, then both revisions serve at 50%.
    await waitFor(
      'v1 and v2 both serving from B',
      async () => {
        const seen = new Set<string>();
        for (let i = 0; i < 20; i++) seen.add((await fetch(b.appUrl)).headers.get('x-shop-version') ?? '');
        return seen.has('v1') && seen.has('v2');
      },
      30_000,
    );

    assert.equal((await b.cli('promote', 'shop')).code, 0);
    await waitFor(
      'v2 stable',
      async () => (await status(b)).stableVersion === 'v2' && !(await status(b)).activeRollout,
    );
    // No step was done twice: one start of this rollout, one weight per step, one promotion.
    const events = (await (
      await b.fetch(`${b.apiUrl}/api/v1/rollouts/${paused.id}/events`)
    ).json()) as EventRow[];
    const count = (type: string) => events.filter((e) => e.type === type).length;
    const types = JSON.stringify(events.map((e) => e.type));
    assert.equal(count('deploy.started'), 1, types);
    assert.equal(count('traffic.weight'), 2, `50%, then 100%: ${types}`);
    assert.equal(count('rollout.promoted'), 1, types);
    assert.equal(count('rollout.completed'), 1, types);
  });

  test('the old leader, restarted, follows the new one', async () => {
    await a.restart();
    await waitFor('A to say it follows', async () => (await role(a)) === 'follower');
    const r = await a.cli('rollback', 'shop', '--json');
    assert.notEqual(r.code, 0);
    assert.match(
      `${r.stdout}${r.stderr}`,
      new RegExp(`the leader is \\S+ at ${b.apiUrl.replace(/[.]/g, '\\.')}`),
    );
  });

  test('a leader whose database session is cut stops at once (exit 75) and the other leads', async () => {
    const port = new URL(b.apiUrl).port;
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const cut = await admin.query(
        `select pg_terminate_backend(pid) from pg_stat_activity where application_name like 'rewind-leader %:' || $1`,
        [port],
      );
      assert.equal(cut.rowCount, 1, "B's leader session");
    } finally {
      await admin.end();
    }
    const exited = await waitFor(
      'B to exit',
      async () => b.server.exitCode !== null && b.server.exitCode,
      10_000,
    );
    assert.equal(exited, 75);
    assert.match(b.output(), /no longer sure to lead; exiting/);
    await waitFor('A to lead', async () => (await role(a)) === 'leader', 10_000);
    await waitFor(
      'A serves v2',
      async () => (await fetch(a.appUrl)).headers.get('x-shop-version') === 'v2',
      30_000,
    );
  });
});
