// Safe by default: an app with no analysis section and no strategy (blue-green, bake 10 s, watch
// 15 m) gets a bad release put back on its own: during the bake by the before/after judgment or
// a service-down breach, and after it by the post-deploy watch, which survives a restart.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Harness, oneShopConfig, startLoad, startRewind, waitFor } from '../support/rewind-harness.ts';

const plain =
  (strategy = '') =>
  (appPort: number) =>
    oneShopConfig(appPort, strategy, 'plain');

interface Incident {
  id: string;
  severity: string;
  rolloutId: string;
  trigger: { kind: string; phase?: string; judgment?: string; rule?: string; message: string };
}

interface Status {
  stableVersion: string | null;
  activeRollout: { id: string; kind: string } | null;
  watch: {
    revision: number;
    leftMs: number;
    judgment: { verdict: string; message: string } | null;
    rules: { name: string; phase: string }[];
  } | null;
}

const get = async <T>(h: Harness, path: string): Promise<T> =>
  (await (await h.fetch(`${h.apiUrl}/api/v1${path}`)).json()) as T;
const status = (h: Harness) => get<Status>(h, '/apps/plain');
const servedBy = async (h: Harness) => (await fetch(h.appUrl)).headers.get('x-shop-version');

async function newIncident(h: Harness, known: Set<string>): Promise<Incident> {
  return waitFor('the incident', async () => {
    const list = await get<Incident[]>(h, '/incidents?app=plain');
    return list.find((i) => !known.has(i.id));
  });
}

async function incidentIds(h: Harness): Promise<Set<string>> {
  return new Set((await get<Incident[]>(h, '/incidents?app=plain')).map((i) => i.id));
}

/** `rewind deploy plain --version V --env ...` with the given flags. */
const deploy = (h: Harness, version: string, env: string[], ...flags: string[]) =>
  h.cli('deploy', 'plain', '--version', version, ...env.flatMap((e) => ['--env', e]), ...flags);

/** Runs `fn` with keep-alive load on the app; the load stops whatever happens. */
async function underLoad<T>(h: Harness, fn: (load: ReturnType<typeof startLoad>) => Promise<T>): Promise<T> {
  const load = startLoad(`${h.appUrl}/products`, 4);
  try {
    await waitFor('traffic before the switch', async () => load.stats.ok > 300, 10_000);
    return await fn(load);
  } finally {
    await load.stop();
  }
}

describe('safe by default: no rules written, default blue-green', () => {
  let h: Harness;
  before(async () => {
    h = await startRewind({ config: plain() });
    await waitFor('v1', async () => (await servedBy(h)) === 'v1');
  });
  after(async () => {
    await h?.close();
  });

  test('given v1 under load, when v2 fails 50% of requests, then it is rolled back within seconds of its first request', async () => {
    const known = await incidentIds(h);
    const { r, failed } = await underLoad(h, async (load) => ({
      r: await deploy(h, 'v2', ['SHOP_ERROR_RATE=0.5'], '--wait', '--json'),
      failed: load.stats.failed,
    }));
    assert.equal(r.code, 2, r.stdout + r.stderr);
    const rollout = JSON.parse(r.stdout) as { id: string };
    const events = await get<{ type: string; at: number }[]>(h, `/rollouts/${rollout.id}/events`);
    const switched = events.find((e) => e.type === 'traffic.switched')!.at;
    const back = events.find((e) => e.type === 'traffic.switched-back')!.at;
    assert.ok(back - switched < 8_000, `v2 had traffic for ${back - switched} ms`);
    assert.equal(await servedBy(h), 'v1');
    const incident = await newIncident(h, known);
    assert.equal(incident.severity, 'P0');
    assert.equal(incident.trigger.phase, 'during the bake');
    assert.ok(failed > 0);
  });

  test('when v3 fails 8% of requests (over the runbook 5%), the before/after judgment rolls it back long before 5 minutes', async () => {
    const known = await incidentIds(h);
    const started = Date.now();
    const r = await underLoad(h, () => deploy(h, 'v3', ['SHOP_ERROR_RATE=0.08'], '--wait', '--json'));
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
    assert.match(
      JSON.parse(r.stdout).error,
      /judged worse than the previous revision before the switch on errorRate/,
    );
    const incident = await newIncident(h, known);
    assert.equal(incident.trigger.kind, 'judgment');
    assert.equal(incident.trigger.judgment, 'before/after');
    assert.equal(await servedBy(h), 'v1');
  });

  test('a healthy release is kept, release after release, and the watch goes on after the bake', async () => {
    const { judged, failed, errors } = await underLoad(h, async (load) => {
      for (const version of ['v4', 'v5', 'v6']) {
        const r = await deploy(h, version, [], '--wait');
        assert.equal(r.code, 0, `${version}: ${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /the watch goes on until/);
      }
      const seen = load.stats.versions.get('v6') ?? 0;
      // Seconds of judging under the watch: still v6, still watching, nothing rolled back.
      await waitFor(
        'more load on v6',
        async () => (load.stats.versions.get('v6') ?? 0) > seen + 1000,
        20_000,
      );
      const st = await waitFor('a judgment in the watch', async () => {
        const x = await status(h);
        return x.watch?.judgment ? x : undefined;
      });
      return { judged: st, failed: load.stats.failed, errors: load.stats.errors };
    });
    const now = await status(h);
    assert.equal(now.stableVersion, 'v6');
    assert.equal(now.activeRollout, null);
    assert.ok(now.watch && now.watch.leftMs > 10 * 60_000, JSON.stringify(now.watch));
    assert.notEqual(judged.watch?.judgment?.verdict, 'Worse', JSON.stringify(judged.watch));
    assert.equal(failed, 0, errors.join('\n'));
    const text = await h.cli('status', 'plain');
    assert.match(text.stdout, /watch: revision \d+, .* left \(until/);
    assert.match(text.stdout, /judgment: /);
  });

  test('a deploy that never takes traffic leaves the stable revision watched; one that completes ends that watch', async () => {
    const watched = (await status(h)).watch;
    assert.ok(watched, 'v6 is watched');
    const failed = await deploy(h, 'v7', ['SHOP_CRASH_AT_START=1'], '--wait');
    assert.equal(failed.code, 3, failed.stdout + failed.stderr);
    assert.equal((await status(h)).watch?.revision, watched.revision);
    assert.equal((await deploy(h, 'v8', [], '--wait')).code, 0);
    const next = await status(h);
    assert.ok(next.watch && next.watch.revision > watched.revision, JSON.stringify(next.watch));
  });
});

describe('the post-deploy watch', () => {
  let h: Harness;
  before(async () => {
    h = await startRewind({ config: plain('    strategy:\n      blueGreen: { bake: 1s }\n') });
    await waitFor('v1', async () => (await servedBy(h)) === 'v1');
  });
  after(async () => {
    await h?.close();
  });

  test('a release that starts failing 30 s after its bake is rolled back by the watch', async () => {
    const known = await incidentIds(h);
    const { r, failed } = await underLoad(h, async (load) => ({
      r: await deploy(h, 'v2', ['SHOP_ERROR_RATE=0.5', 'SHOP_ERROR_AFTER_MS=33000'], '--watch', '--json'),
      failed: load.stats.failed,
    }));
    assert.equal(r.code, 2, r.stdout + r.stderr);
    const done = JSON.parse(r.stdout) as { phase: string; state: { watch: { status: string } } };
    assert.equal(done.phase, 'Completed');
    assert.equal(done.state.watch.status, 'RolledBack');
    await waitFor('v1 back', async () => (await servedBy(h)) === 'v1');
    const incident = await newIncident(h, known);
    assert.match(incident.trigger.phase ?? '', /^during the post-deploy watch, \d+/);
    assert.equal(incident.severity, 'P0');
    assert.ok(failed > 0);
  });

  test('a controller SIGKILLed during the watch resumes it, and the watch still rolls back', async () => {
    const known = await incidentIds(h);
    await underLoad(h, async () => {
      const r = await deploy(h, 'v3', ['SHOP_ERROR_RATE=0.5', 'SHOP_ERROR_AFTER_MS=15000'], '--wait');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const watching = await status(h);
      assert.ok(watching.watch, 'watching after the bake');
      await h.kill('SIGKILL');
      await h.restart();
      const resumed = await waitFor(
        'the watch after the restart',
        async () => (await status(h)).watch ?? undefined,
      );
      assert.equal(resumed.revision, watching.watch!.revision);
      await waitFor('v1 back', async () => (await servedBy(h)) === 'v1', 40_000);
    });
    const incident = await newIncident(h, known);
    assert.match(incident.trigger.phase ?? '', /^during the post-deploy watch/);
  });
});
