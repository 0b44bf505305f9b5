// A controller killed mid-window resumes with the same evidence: the watch's series are persisted
// with the rollout (a real SQLite store), the data plane fills in the seconds the controller was
// down, and the rollback is decided at the same second as without the restart.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BUILTIN_LATENCY_BOUNDS_MS,
  BuiltinMetricsSource,
} from '../../providers/builtin/metrics/builtin-metrics-source.ts';
import { HISTORY_SECONDS } from '../../providers/builtin/proxy/shared.ts';
import type { MetricsBucket } from '../../providers/builtin/proxy/types.ts';
import type { MetricsSource } from '../../providers/metrics-source.ts';
import type { Instance, Runtime, UsageQuery, UsageSample } from '../../providers/runtime.ts';
import { appSpecSchema } from '../../spec/app-spec.ts';
import { openStore } from '../../store/open-store.ts';
import type { Store } from '../../store/types.ts';
import type { AppContext } from './app-context.ts';
import { initialState, type RolloutState, type WatchMemory } from './rollout-state.ts';
import { evaluationDue, RolloutWatch, type SeriesStore } from './rollout-watch.ts';

const T0 = 1_800_000_000; // unix second the canary takes traffic
const CANDIDATE = { revision: 2, unit: 2 };
const BASELINE = { revision: 1, unit: 1 };
const STATE: RolloutState = { ...initialState([{ name: 'pause', durationMs: null }]), weight: 50 };

interface Case {
  readonly name: string;
  readonly rule: Record<string, unknown>;
  /** Seconds after T0 at which the candidate goes bad (errors or failing health). */
  readonly badFrom: number;
  readonly fault: 'errors' | 'health';
  /** Seconds after T0 at which the controller dies, and how long it stays down. */
  readonly killAt: number;
  readonly down: number;
  /** Without the persisted series, the rollback comes this late or later (null: just as early). */
  readonly withoutPersistence: 'later' | 'same';
  /**
   * The agent restarted too, right after the last evaluation before the kill: every bucket it
   * had is gone, the ones since are there.
   */
  readonly agentRestarted?: boolean;
  /** Failed requests of the bad candidate's 50 a second (default 5). */
  readonly errors?: number;
  /** Analysis settings over the one-rule, nothing-else default. */
  readonly analysis?: Record<string, unknown>;
}

const CASES: readonly Case[] = [
  {
    name: 'error rate for 20s, killed 10s into the breach: the agent alone still has it',
    rule: { name: 'errors', metric: 'errorRate', above: 0.05, for: '20s', minSample: 20, severity: 'P0' },
    badFrom: 5,
    fault: 'errors',
    killAt: 15,
    down: 4,
    withoutPersistence: 'same',
  },
  {
    name: 'error rate for 3m, killed 2.5m into the breach: older than the agent keeps',
    rule: { name: 'errors', metric: 'errorRate', above: 0.05, for: '3m', minSample: 20, severity: 'P0' },
    badFrom: 5,
    fault: 'errors',
    killAt: 155,
    down: 4,
    withoutPersistence: 'later',
  },
  {
    name: 'health checks failing for 20s, killed 10s into the breach: only the controller saw health',
    rule: { name: 'sick', metric: 'healthFailing', above: 0, for: '20s', severity: 'P0' },
    badFrom: 5,
    fault: 'health',
    killAt: 15,
    down: 4,
    withoutPersistence: 'later',
  },
  {
    name: 'error rate for 20s after an agent restart lost its buckets: the store has them',
    rule: { name: 'errors', metric: 'errorRate', above: 0.05, for: '20s', minSample: 20, severity: 'P0' },
    badFrom: 5,
    fault: 'errors',
    agentRestarted: true,
    killAt: 15,
    down: 2,
    withoutPersistence: 'later',
  },
];

let dir: string;
let store: Store;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rewind-watch-'));
  store = await openStore({ dataDir: join(dir, 'data') });
  await store.apps.upsert('shop', {});
});
after(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

let rolloutCounter = 0;
async function newRollout(): Promise<string> {
  const id = `r-${++rolloutCounter}`;
  const ro = await store.rollouts.create({
    id,
    app: 'shop',
    kind: 'deploy',
    strategy: 'canary',
    fromRevision: 1,
    toRevision: 2,
    phase: 'Paused',
    state: STATE,
  });
  // One unfinished rollout per app: each run gets its own, finished (its series stay until dropped).
  await store.rollouts.update(ro.id, { phase: 'Completed' });
  return id;
}

/** The app with one rule and nothing else judging (no judgment, no service-down shortcut). */
function contextOf(rule: Record<string, unknown>, analysis: Record<string, unknown> = {}): AppContext {
  const spec = appSpecSchema.parse({
    name: 'shop',
    listen: '127.0.0.1:8080',
    run: { command: 'true' },
    analysis: {
      rules: [rule],
      canaryJudgment: { enabled: false },
      beforeAfter: { enabled: false },
      serviceDown: { enabled: false },
      ...analysis,
    },
  });
  return { spec, baseDir: dir, lastTableKey: null, retiring: new Map() };
}

/** An instance of the shop at a placeholder address (the watch reads only revision, phase and id). */
function instanceOf(id: string, unit: number, phase: Instance['phase'] = 'Running'): Instance {
  return {
    id,
    app: 'shop',
    revision: unit,
    index: 0,
    phase,
    pid: 1,
    port: 1,
    address: { host: '127.0.0.1', port: 1 },
    restarts: 0,
    startedAt: 0,
    lastExit: null,
    reason: null,
  };
}

function latency(requests: number): number[] {
  const l = new Array<number>(BUILTIN_LATENCY_BOUNDS_MS.length + 1).fill(0);
  l[5] = requests;
  return l;
}

/**
 * The simulated world: a data plane keeping the last HISTORY_SECONDS (as the agent does), the
 * candidate going bad at `badFrom`, and a controller evaluating once a second. Returns the second (after T0) at which
 * the rollback was decided and the breach's start as the deciding verdict saw it.
 */
async function run(
  c: Case,
  options: { restart: boolean; persist: boolean; failReads?: (t: number) => boolean },
): Promise<{ decidedAt: number; breachingSince: number | null; reason: string }> {
  const rolloutId = await newRollout();
  const ctx = contextOf(c.rule, c.analysis);
  let nowMs = 0;
  let agentFrom = Number.NEGATIVE_INFINITY;
  const buckets = async (_app: string, since: number): Promise<MetricsBucket[]> => {
    const now = Math.floor(nowMs / 1000);
    if (options.failReads?.(now - T0)) throw new Error('connect ECONNREFUSED (agent)');
    const out: MetricsBucket[] = [];
    for (let s = Math.max(since, now - HISTORY_SECONDS, agentFrom); s < now; s++) {
      const bad = c.fault === 'errors' && s >= T0 + c.badFrom;
      out.push({
        second: s,
        revisions: [
          { revision: 1, requests: 50, errors5xx: 0, connectFailures: 0, latency: latency(50) },
          {
            revision: 2,
            requests: 50,
            errors5xx: bad ? (c.errors ?? 5) : 0,
            connectFailures: 0,
            latency: latency(50),
          },
        ],
      });
    }
    return out;
  };
  const instances = [instanceOf('b', BASELINE.unit), instanceOf('c', CANDIDATE.unit)];
  const metrics: MetricsSource = new BuiltinMetricsSource(buckets);
  const series: SeriesStore | undefined = options.persist ? store.analysis : undefined;
  let watch = new RolloutWatch(metrics, series ? { series } : {});
  let memory: WatchMemory | null = null;
  for (let t = 0; t < 400; t++) {
    if (options.restart && t >= c.killAt && t < c.killAt + c.down) continue;
    if (options.restart && t === c.killAt + c.down) {
      watch = new RolloutWatch(metrics, series ? { series } : {});
      if (c.agentRestarted) agentFrom = T0 + c.killAt - 1;
    }
    nowMs = (T0 + t) * 1000 + 500;
    const result = await watch.evaluate({
      ctx,
      rolloutId,
      weight: STATE.weight,
      candidate: CANDIDATE,
      baseline: BASELINE,
      instances,
      health: (id) => {
        // A restarted controller's health monitor knows nothing until it has probed.
        const resumedAt = c.killAt + c.down;
        if (options.restart && t >= resumedAt && t < resumedAt + 2) return 'Unknown';
        return id === 'c' && c.fault === 'health' && t >= c.badFrom ? 'Unhealthy' : 'Healthy';
      },
      now: nowMs,
      memory,
    });
    assert.ok(result, `an evaluation is due at ${t}s`);
    if (result.remember) memory = result.remember;
    if (result.decision.action === 'rollback') {
      const v = result.decision.verdict;
      return {
        decidedAt: t,
        breachingSince: v && 'rule' in v ? v.breachingSince : null,
        reason: result.decision.reason,
      };
    }
  }
  assert.fail(`${c.name}: no rollback in 400s`);
}

for (const c of CASES) {
  test(`resuming the series: ${c.name}`, async () => {
    const straight = await run(c, { restart: false, persist: true });
    const resumed = await run(c, { restart: true, persist: true });
    // The same evidence: the breach began at the same second, and the rollback comes at the same
    // evaluation as without the restart.
    assert.equal(resumed.breachingSince, straight.breachingSince);
    assert.equal(resumed.decidedAt, straight.decidedAt);
    assert.ok(
      resumed.breachingSince !== null && resumed.breachingSince < (T0 + c.killAt) * 1000,
      'the breach that decided began before the kill',
    );
    const forgetful = await run(c, { restart: true, persist: false });
    if (c.withoutPersistence === 'same') assert.equal(forgetful.decidedAt, straight.decidedAt);
    else
      assert.ok(
        forgetful.decidedAt > straight.decidedAt,
        `without the persisted series the rollback comes later (${forgetful.decidedAt}s vs ${straight.decidedAt}s)`,
      );
  });
}

test('a failed metrics read is data, not an exception: reads failing for 5s of the breach decide at the same second', async () => {
  const c = CASES[0]!;
  const straight = await run(c, { restart: false, persist: false });
  let failed = 0;
  const failing = await run(c, {
    restart: false,
    persist: false,
    failReads: (t) => {
      const fails = t >= 10 && t < 15;
      if (fails) failed++;
      return fails;
    },
  });
  assert.ok(failed >= 5, 'the reads failed');
  assert.equal(failing.decidedAt, straight.decidedAt);
  assert.equal(failing.breachingSince, straight.breachingSince);
});

test('the canary judgment resumes with its evidence: killed halfway to its decision, after an agent restart too', async () => {
  const base: Case = {
    name: 'judgment',
    // A rule that never fires: the judgment decides.
    rule: { name: 'outage', metric: 'errorRate', above: 0.9, for: '1m', minSample: 20, severity: 'P0' },
    analysis: { canaryJudgment: { enabled: true } },
    errors: 1,
    badFrom: 0,
    fault: 'errors',
    agentRestarted: true,
    killAt: 0,
    down: 2,
    withoutPersistence: 'later',
  };
  const straight = await run(base, { restart: false, persist: true });
  assert.match(straight.reason, /canary judged worse than the stable revision on errorRate/);
  assert.ok(straight.decidedAt >= 8, `the judgment needs a while at 2% (${straight.decidedAt}s)`);
  const c = { ...base, killAt: Math.floor(straight.decidedAt / 2) };
  const resumed = await run(c, { restart: true, persist: true });
  assert.equal(resumed.decidedAt, straight.decidedAt);
  assert.equal(resumed.reason, straight.reason);
  const forgetful = await run(c, { restart: true, persist: false });
  assert.ok(
    forgetful.decidedAt > straight.decidedAt,
    `judging afresh decides later (${forgetful.decidedAt}s vs ${straight.decidedAt}s)`,
  );
});

test('the persisted series stays bounded to the longest window and goes when the watch is forgotten', async () => {
  const c = CASES[0]!;
  const rolloutId = await newRollout();
  const ctx = contextOf(c.rule, { monitoringWindow: '30s' });
  let nowMs = 0;
  const metrics = async (_app: string, since: number): Promise<MetricsBucket[]> => {
    const out: MetricsBucket[] = [];
    for (
      let s = Math.max(since, Math.floor(nowMs / 1000) - HISTORY_SECONDS);
      s < Math.floor(nowMs / 1000);
      s++
    )
      out.push({
        second: s,
        revisions: [{ revision: 2, requests: 10, errors5xx: 0, connectFailures: 0, latency: latency(10) }],
      });
    return out;
  };
  const watch = new RolloutWatch(new BuiltinMetricsSource(metrics), { series: store.analysis });
  for (let t = 0; t < 300; t += 1) {
    nowMs = (T0 + t) * 1000 + 500;
    await watch.evaluate({
      ctx,
      rolloutId,
      weight: STATE.weight,
      candidate: CANDIDATE,
      baseline: BASELINE,
      instances: [],
      health: () => 'Healthy',
      now: nowMs,
    });
  }
  const held = await store.analysis.load(rolloutId);
  // The longest window (the 30s monitoring window, 20s rule) + 60s of sample widening, but at
  // least the before/after's 110s + 10s.
  const capacity = 120;
  for (const revision of [1, 2])
    assert.equal(held.filter((s) => s.revision === revision).length, capacity, `revision ${revision}`);
  watch.forget(rolloutId);
  // forget() drops them in the background: wait for the condition, not for a time.
  for (let i = 0; i < 400 && (await store.analysis.load(rolloutId)).length > 0; i++)
    await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(await store.analysis.load(rolloutId), []);
});

test('no revision serving is an outage of the app, not of the candidate: only the candidate down alone rolls back', async () => {
  const ctx = contextOf({ name: 'down', metric: 'unavailable', above: 0, for: '3s', severity: 'P0' });
  let now = 0;
  // Traffic every second (the proxy answers for both revisions; what serves is the health's say).
  const buckets = async (_app: string, since: number): Promise<MetricsBucket[]> =>
    Array.from({ length: Math.max(0, Math.floor(now / 1000) - since) }, (_, i) => ({
      second: since + i,
      revisions: [1, 2].map((revision) => ({
        revision,
        requests: 50,
        errors5xx: 0,
        connectFailures: 0,
        latency: latency(50),
      })),
    }));
  const decide = async (baselinePhase: Instance['phase']) => {
    const rolloutId = await newRollout();
    const watch = new RolloutWatch(new BuiltinMetricsSource(buckets));
    for (let t = 0; t < 20; t++) {
      now = (T0 + t) * 1000 + 500;
      const result = await watch.evaluate({
        ctx,
        rolloutId,
        weight: STATE.weight,
        candidate: CANDIDATE,
        baseline: BASELINE,
        // Both revisions' processes starting again (an agent restart), or the candidate's alone.
        instances: [
          instanceOf('b', BASELINE.unit, baselinePhase),
          instanceOf('c', CANDIDATE.unit, 'Starting'),
        ],
        health: () => 'Unknown',
        now,
        memory: null,
      });
      if (result?.decision.action === 'rollback') return t;
    }
    return null;
  };
  assert.equal(await decide('Starting'), null, 'every revision down for 20 s: no rollback');
  const alone = await decide('Running');
  assert.ok(alone !== null && alone <= 5, `the candidate down alone: rolled back after ${alone} s`);
});

test('a crash of the candidate is a P0 rollback for a release under analysis, not for the steady-state watch', async () => {
  const ctx = contextOf(
    { name: 'errors', metric: 'errorRate', above: 0.5, for: '5m', severity: 'P0' },
    { serviceDown: { enabled: true } },
  );
  const now = (T0 + 10) * 1000 + 500;
  const quiet = async (): Promise<MetricsBucket[]> => [];
  const crashed = {
    ...instanceOf('c', CANDIDATE.unit, 'Backoff'),
    lastExit: { code: 1, signal: null, at: now - 200 },
  };
  const evaluate = async (startedAt: number | undefined) =>
    new RolloutWatch(new BuiltinMetricsSource(quiet)).evaluate({
      ctx,
      rolloutId: await newRollout(),
      weight: STATE.weight,
      candidate: CANDIDATE,
      baseline: BASELINE,
      instances: [instanceOf('b', BASELINE.unit), crashed],
      health: () => 'Healthy',
      now,
      memory: null,
      ...(startedAt === undefined ? {} : { startedAt }),
    });
  const release = await evaluate(T0 * 1000);
  assert.equal(release?.decision.action, 'rollback');
  assert.equal(release?.decision.severity, 'P0');
  assert.match(
    release!.decision.reason,
    /P0 rule crashed: instance c exited with code 1 0\.2s ago, waiting to restart/,
  );
  const steady = await evaluate(undefined);
  assert.equal(steady?.decision.action, 'none', steady?.decision.reason);
});

describe('rules on what the runtime measures', () => {
  let nowMs = 0;
  /**
   * A runtime whose candidate (unit 2) from T0+5 uses 1.8 of the host's 2 cores and writes an
   * error line a second; the baseline idles. Its usage is kept 15 minutes, like the agent's.
   */
  function runtime(): Pick<Runtime, 'usage'> & { queries: UsageQuery[] } {
    const queries: UsageQuery[] = [];
    return {
      queries,
      usage: async (_app, query) => {
        queries.push(query);
        const now = Math.floor(nowMs / 1000);
        const samples: UsageSample[] = [];
        for (let s = Math.max(query.sinceSecond, now - 900); s < now; s++) {
          const bad = s >= T0 + 5;
          samples.push({
            second: s,
            instances: [
              { instance: 'b', revision: 1, cpuCores: 0.2, memoryBytes: 1e8, logLines: 10, logErrors: 0 },
              {
                instance: 'c',
                revision: 2,
                cpuCores: bad ? 1.8 : 0.2,
                memoryBytes: 1e8,
                logLines: 10,
                logErrors: bad ? 1 : 0,
              },
            ],
          });
        }
        return { phase: 'Successful', capacity: { cpuCores: 2, memoryBytes: 4e9, scope: 'host' }, samples };
      },
    };
  }

  /** Evaluates once a second for `seconds`; the second of the rollback, if any. */
  async function decide(
    rule: Record<string, unknown>,
    metrics: MetricsSource,
    logs: Record<string, unknown> = {},
    seconds = 120,
  ): Promise<{ t: number | null; reason: string; queries: UsageQuery[]; rolloutId: string }> {
    const spec = contextOf(rule);
    const ctx = { ...spec, spec: { ...spec.spec, logs } };
    const rolloutId = await newRollout();
    const usage = runtime();
    const watch = new RolloutWatch(metrics, { series: store.analysis });
    for (let t = 0; t < seconds; t++) {
      nowMs = (T0 + t) * 1000 + 500;
      const result = await watch.evaluate({
        ctx,
        rolloutId,
        weight: STATE.weight,
        candidate: CANDIDATE,
        baseline: BASELINE,
        instances: [instanceOf('b', BASELINE.unit), instanceOf('c', CANDIDATE.unit)],
        health: () => 'Healthy',
        now: nowMs,
        runtime: usage,
      });
      if (result?.decision.action === 'rollback')
        return { t, reason: result.decision.reason, queries: usage.queries, rolloutId };
    }
    return { t: null, reason: '', queries: usage.queries, rolloutId };
  }

  const traffic = new BuiltinMetricsSource(async (_app, since) => {
    const out: MetricsBucket[] = [];
    for (let s = since; s < Math.floor(nowMs / 1000); s++) out.push({ second: s, revisions: [] });
    return out;
  });
  const noTraffic: MetricsSource = {
    read: async () => ({ phase: 'Error', error: 'no data plane', samples: [] }),
  };

  test('error lines above 5 a minute roll back once the sixth is counted', async () => {
    const r = await decide({ metric: 'logErrors', above: 5, severity: 'P0' }, traffic, {
      errorPattern: 'E\\d+',
    });
    // Errors from second 5: the count of the last minute passes 5 with second 10, judged at 11.
    assert.equal(r.t, 11);
    assert.match(r.reason, /P0 rule log-errors: error lines 6\/min above 5\/min/);
    assert.equal(r.queries[0]!.errorPattern, 'E\\d+', "the app's pattern goes to the runtime");
    assert.ok(
      r.queries.slice(1).every((q, i) => q.sinceSecond > r.queries[i]!.sinceSecond),
      'each second is read once',
    );
    const held = await store.analysis.load(r.rolloutId);
    const stored = held.find((row) => row.revision === CANDIDATE.revision && row.second === T0 + 9);
    assert.deepEqual((stored!.data as { usage?: { logErrors: number } }).usage?.logErrors, 1, 'persisted');
  });

  test('CPU above 70% for 2s rolls back, even when the metrics source has nothing', async () => {
    const rule = { metric: 'cpu', above: '70%', for: '2s', severity: 'P0' };
    const withTraffic = await decide(rule, traffic);
    assert.equal(withTraffic.t, 7);
    assert.match(withTraffic.reason, /CPU 90% above 70% for 2s/);
    assert.equal((await decide(rule, noTraffic)).t, 7);
  });

  test('the runtime is not read when no rule needs it', async () => {
    const r = await decide({ metric: 'errorRate', above: 0.05, severity: 'P0' }, traffic, {}, 10);
    assert.equal(r.t, null);
    assert.deepEqual(r.queries, []);
  });
});

test('evaluations fall in the first tick after each multiple of the interval', () => {
  const cases: [last: number, now: number, interval: number, due: boolean][] = [
    [0, 1_700_000_000_123, 1000, true], // never evaluated
    [10_000, 10_999, 1000, false], // same second
    [10_950, 11_010, 1000, true], // a second ended 60 ms ago: due, though 1 s has not passed
    [10_010, 11_000, 1000, true],
    [10_010, 10_990, 1000, false],
    [10_100, 14_900, 5000, false], // one evaluation per 5 s window
    [10_100, 15_050, 5000, true],
  ];
  for (const [last, now, interval, due] of cases)
    assert.equal(evaluationDue(last, now, interval), due, `last ${last}, now ${now}, interval ${interval}`);
});
