// The rollout driver over in-memory providers (test/support/fake-providers.ts), a real SQLite
// store and a clock the test moves: each test is a story of one rollout, told by what the runtime
// was asked, the traffic plans the router saw, the journal and the incident.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  FakeHealth,
  FakeMetrics,
  FakeRuntime,
  FakeTrafficRouter,
} from '../../../test/support/fake-providers.ts';
import { tempDir } from '../../../test/support/process-fixtures.ts';
import { silentLogger } from '../../shared/logger.ts';
import type { AppSpec } from '../../spec/app-spec.ts';
import { LATENCY_BOUNDS_MS } from '../../spec/proxy-spec.ts';
import { openStore } from '../../store/open-store.ts';
import type { RolloutKind, RolloutRecord, Store } from '../../store/types.ts';
import { parseConfig } from '../apps/load-config.ts';
import { IncidentService } from '../incidents/incident-service.ts';
import { buildRevisionSpec } from '../revisions/revision-spec.ts';
import type { ManagedApp } from './app-context.ts';
import { RolloutDriver } from './rollout-driver.ts';
import { RolloutReporter } from './rollout-reporter.ts';
import { COMPENSATIONS, initialState, type Step } from './rollout-state.ts';
import { RolloutWatch } from './rollout-watch.ts';
import { STEP_HANDLERS } from './steps/step-handlers.ts';
import { planTraffic, type RevisionRef } from './traffic-plan.ts';

let dir: { dir: string; remove: () => Promise<void> };
let store: Store;

before(async () => {
  dir = await tempDir('rewind-driver-');
  store = await openStore({ dataDir: dir.dir });
});
after(async () => {
  await store.close();
  await dir.remove();
});

const BLUE_GREEN = '{ blueGreen: { bake: 10s, watch: 0s, keepPreviousWarm: 1m } }';
const CANARY =
  '{ canary: { steps: [{ setWeight: 20 }, { pause: 2s }, { setWeight: 50 }, { pause: 2s }, { setWeight: 100 }], bake: 1s, watch: 0s } }';

/** One app at revision 1 (stable, running) under a driver whose clock the test holds. */
class World {
  readonly runtime = new FakeRuntime();
  readonly health = new FakeHealth();
  readonly traffic = new FakeTrafficRouter();
  readonly metrics = new FakeMetrics();
  /** Each incident change with the runbook's message for it, as notifiers would get them. */
  readonly changes: { change: string; message: string }[] = [];
  readonly incidents = new IncidentService({
    store,
    onChange: (change, _incident, message) => this.changes.push({ change, message }),
  });
  now = Date.now();
  readonly clock = { now: () => this.now };
  readonly spec: AppSpec;
  readonly ctx: ManagedApp;
  readonly reporter: RolloutReporter;
  driver: RolloutDriver;
  readonly #units = new Map<number, number>();

  /** `verify`: the app's post-rollback watch (off by default here: the one check at the switch decides). */
  constructor(strategy: string, verify = '{ watch: 0s }') {
    const name = `app-${randomUUID().slice(0, 8)}`;
    this.spec = parseConfig(
      `apps:\n  - name: ${name}\n    listen: 127.0.0.1:18997\n    run: { command: "svc \${version}" }\n    health: { startTimeout: 5s }\n    strategy: ${strategy}\n    verify: ${verify}\n`,
    ).apps[0]!;
    this.ctx = {
      spec: this.spec,
      baseDir: dir.dir,
      providers: { runtime: this.runtime, health: this.health, traffic: this.traffic, metrics: this.metrics },
      lastTableKey: null,
      retiring: new Map(),
    };
    this.reporter = new RolloutReporter({
      store,
      incidents: this.incidents,
      notify: () => {},
      metrics: this.metrics,
      log: silentLogger,
    });
    this.driver = this.newDriver();
  }

  get app(): string {
    return this.spec.name;
  }

  /** A driver as a (re)started controller builds it: nothing in memory. */
  newDriver(): RolloutDriver {
    return new RolloutDriver({
      store,
      log: silentLogger,
      clock: this.clock,
      reporter: this.reporter,
      metrics: this.metrics,
      watch: new RolloutWatch(this.metrics, { series: store.analysis, log: silentLogger }),
      envOf: (_ctx, spec) => spec.env,
      applyRoutes: (_ctx, rollout) => this.#applyRoutes(rollout),
    });
  }

  /** The plan of the rollout's journalled state, as the controller derives it (simplified). */
  async #applyRoutes(rollout: RolloutRecord | null): Promise<void> {
    const ref = (revision: number): RevisionRef => ({
      revision,
      unit: this.#units.get(revision) ?? revision,
    });
    const stable = (await store.apps.get(this.app))?.stableRevision ?? null;
    const intent = rollout
      ? {
          current: rollout.fromRevision === null ? null : ref(rollout.fromRevision),
          next: { ref: ref(rollout.toRevision), weight: rollout.state.weight },
          standby: [],
        }
      : { current: stable === null ? null : ref(stable), next: null, standby: [] };
    await this.traffic.apply(planTraffic(this.spec, intent), await this.runtime.list(this.app));
  }

  async start(): Promise<void> {
    await store.apps.upsert(this.app, this.spec);
    await this.revision('v1');
    await store.apps.setStableRevision(this.app, 1);
    const spec = buildRevisionSpec(this.spec, dir.dir, { version: 'v1' });
    await this.runtime.start({ app: this.app, revision: 1, index: 0, ...spec, env: {} });
  }

  async revision(version: string, copyOf?: number): Promise<number> {
    const spec = { ...buildRevisionSpec(this.spec, dir.dir, { version }), unit: copyOf ?? null };
    const rev = await store.revisions.create({ app: this.app, version, spec, copiedFrom: copyOf ?? null });
    this.#units.set(rev.number, copyOf ?? rev.number);
    return rev.number;
  }

  async rollout(kind: RolloutKind, from: number, to: number, steps: readonly Step[]): Promise<RolloutRecord> {
    return store.rollouts.create({
      id: randomUUID(),
      app: this.app,
      kind,
      strategy: kind === 'rollback' ? 'rollback' : 'blueGreen',
      fromRevision: from,
      toRevision: to,
      phase: 'Pending',
      state: initialState(steps),
    });
  }

  /** One tick of the reconcile loop, as the controller runs it for the driver. */
  async tick(): Promise<void> {
    const active = await store.rollouts.active(this.app);
    if (active) {
      await this.driver.drive(this.ctx, active, async () => {
        const instances = await this.runtime.list(this.app);
        this.health.observe(instances);
        this.ctx.observed = { at: this.now, instances };
        return instances;
      });
    }
    await this.driver.verifyDue(this.ctx);
  }

  /** Ticks, the clock moving `stepMs` after each, until the rollout has finished. */
  async runToEnd(id: string, stepMs = 500): Promise<RolloutRecord> {
    for (let i = 0; i < 100; i++) {
      await this.tick();
      const r = (await store.rollouts.get(id))!;
      if (r.finishedAt !== null) return r;
      this.now += stepMs;
    }
    throw new Error('the rollout did not finish in 100 ticks');
  }

  async events(id: string): Promise<string[]> {
    return (await store.events.list({ rolloutId: id, limit: 1000 })).map((e) => e.type);
  }

  /** The weight of `revision` in each plan the router was given, repeats folded. */
  weightsOf(revision: number): number[] {
    const weights = this.traffic.applied.map((p) => p.revisions.find((r) => r.revision === revision)?.weight);
    return weights.filter((w, i) => w !== undefined && w !== weights[i - 1]) as number[];
  }
}

const DEPLOY_STEPS: Step[] = [
  { name: 'startRevision' },
  { name: 'waitHealthy' },
  { name: 'prePromotionChecks' },
  { name: 'switchTraffic' },
  { name: 'bake' },
];

test('every step kind has a handler, and each compensation is its step kind own', () => {
  for (const [name, handler] of Object.entries(STEP_HANDLERS))
    assert.equal(handler.compensate?.action, COMPENSATIONS[name as Step['name']], name);
});

test('given v1, a blue-green deploy of v2 starts it, switches all traffic and completes after the bake', async () => {
  const w = new World(BLUE_GREEN);
  await w.start();
  const to = await w.revision('v2');
  const rollout = await w.rollout('deploy', 1, to, DEPLOY_STEPS);

  await w.tick();
  const baking = (await store.rollouts.get(rollout.id))!;
  assert.equal(baking.phase, 'Baking');
  assert.equal(baking.state.weight, 100);

  const done = await w.runToEnd(rollout.id, 5_000);
  assert.equal(done.phase, 'Completed');
  assert.equal((await store.apps.get(w.app))?.stableRevision, 2);
  assert.deepEqual(w.runtime.calls, ['start 1/0', 'start 2/0']);
  assert.deepEqual(w.weightsOf(2), [0, 100]);
  // A step is said to start when the phase changes (Progressing, Promoting, Baking).
  assert.deepEqual(await w.events(rollout.id), [
    'step.started',
    'step.completed',
    'step.completed',
    'step.completed',
    'step.started',
    'traffic.switched',
    'step.completed',
    'step.started',
    'step.completed',
    'rollout.completed',
  ]);
  // A deploy is not a rollback: nothing to verify.
  assert.equal(done.state.verification, undefined);
});

test('a revision that never becomes healthy fails its wait, is stopped, and users never saw it', async () => {
  const w = new World(BLUE_GREEN);
  await w.start();
  w.runtime.readyAtStart = (spec) => spec.revision !== 2;
  const to = await w.revision('v2');
  const rollout = await w.rollout('deploy', 1, to, DEPLOY_STEPS);

  await w.tick();
  assert.equal((await store.rollouts.get(rollout.id))?.phase, 'Progressing');
  w.now += 4_000;
  await w.tick();
  assert.equal((await store.rollouts.get(rollout.id))?.finishedAt, null, 'still within the start timeout');
  w.now += 2_000;
  const done = await w.runToEnd(rollout.id);

  assert.equal(done.phase, 'Failed');
  assert.match(done.error ?? '', /^not healthy within 5s/);
  assert.deepEqual(w.runtime.calls, ['start 1/0', 'start 2/0', 'stop 2']);
  assert.deepEqual(w.weightsOf(2), [0]);
  const events = await w.events(rollout.id);
  assert.deepEqual(events.slice(-3), ['step.failed', 'revision.stopped', 'rollout.failed']);
  assert.equal((await store.incidents.list({ app: w.app })).length, 0, 'no incident: no user saw it');
});

test('a canary puts 20%, 50%, then 100% of traffic on the new revision, each journalled', async () => {
  const w = new World(CANARY);
  await w.start();
  const to = await w.revision('v2');
  const steps: Step[] = [
    { name: 'startRevision' },
    { name: 'waitHealthy' },
    { name: 'prePromotionChecks' },
    { name: 'setWeight', weight: 20 },
    { name: 'pause', durationMs: 2000 },
    { name: 'setWeight', weight: 50 },
    { name: 'pause', durationMs: 2000 },
    { name: 'setWeight', weight: 100 },
    { name: 'bake' },
  ];
  const rollout = await w.rollout('deploy', 1, to, steps);

  const done = await w.runToEnd(rollout.id, 1_000);
  assert.equal(done.phase, 'Completed');
  assert.deepEqual(w.weightsOf(2), [0, 20, 50, 100]);
  assert.deepEqual(w.weightsOf(1), [100, 80, 50, 0]);
  const weights = (await store.events.list({ rolloutId: rollout.id, limit: 1000 }))
    .filter((e) => e.type === 'traffic.weight')
    .map((e) => (e.data as { weight: number }).weight);
  assert.deepEqual(weights, [20, 50, 100]);
});

test('a revision that turns unhealthy while baking: traffic switches back, it is stopped, an incident opens', async () => {
  const w = new World(BLUE_GREEN);
  await w.start();
  const to = await w.revision('v2');
  const rollout = await w.rollout('deploy', 1, to, DEPLOY_STEPS);
  await w.tick();
  assert.equal((await store.rollouts.get(rollout.id))?.phase, 'Baking');

  w.runtime.set(`${w.app}/2/0`, { ready: false });
  w.now += 1_000;
  const done = await w.runToEnd(rollout.id);

  assert.equal(done.phase, 'RolledBack');
  assert.deepEqual(w.weightsOf(2), [0, 100, 0]);
  assert.deepEqual(w.weightsOf(1), [100, 0, 100]);
  assert.deepEqual(w.runtime.calls.slice(-1), ['stop 2']);
  const events = await w.events(rollout.id);
  assert.deepEqual(events.slice(events.indexOf('step.failed')), [
    'step.failed',
    'traffic.switched-back',
    'revision.stopped',
    'rollout.rolledback',
  ]);
  const [incident] = await w.incidents.list({ app: w.app });
  assert.equal(incident?.status, 'Open');
  // The verification of revision 1 is journalled, due in a few seconds.
  assert.deepEqual(done.state.verification, {
    status: 'Pending',
    revision: 1,
    dueAt: done.finishedAt! + 3000,
  });
});

/** A rollback of v2 to a copy of v1 (revision 3, served by v1's warm processes), with its incident. */
async function rolledBack(w: World): Promise<RolloutRecord> {
  await w.start();
  const bad = await w.revision('v2');
  await store.apps.setStableRevision(w.app, bad);
  const back = await w.revision('v1', 1);
  const rollout = await w.rollout('rollback', bad, back, [{ name: 'switchTraffic' }, { name: 'verify' }]);
  await w.reporter.openIncident(rollout, { kind: 'manual', message: 'rolled back by hand' }, 'P2');
  return w.runToEnd(rollout.id, 100);
}

test('a rollback is verified once due: its event, the incident resolved, the state says Passed', async () => {
  const w = new World(BLUE_GREEN);
  const done = await rolledBack(w);
  assert.equal(done.phase, 'Completed');
  assert.deepEqual(w.weightsOf(3), [100]);
  assert.equal(done.state.verification?.status, 'Pending');

  w.now = done.state.verification!.dueAt - 1;
  await w.tick();
  await w.driver.verificationsSettled();
  assert.ok(!(await w.events(done.id)).includes('rollout.verified'), 'not before it is due');

  w.now += 1;
  await w.tick();
  await w.driver.verificationsSettled();
  const verified = (await store.events.list({ rolloutId: done.id, limit: 1000 })).find(
    (e) => e.type === 'rollout.verified',
  );
  assert.match(verified?.message ?? '', /^revision 3 verified: health passed, error rate/);
  const [incident] = await w.incidents.list({ app: w.app });
  assert.equal(incident?.status, 'Resolved');
  const after = (await store.rollouts.get(done.id))!;
  assert.equal(after.state.verification?.status, 'Passed');
  assert.equal(after.state.verification?.endedAt, w.now);

  // Once: later ticks verify nothing again.
  w.now += 10_000;
  await w.tick();
  await w.driver.verificationsSettled();
  assert.equal((await w.events(done.id)).filter((t) => t === 'rollout.verified').length, 1);
});

test('a controller restarted while a verification is pending runs it: the incident does not stay Open', async () => {
  const w = new World(BLUE_GREEN);
  const done = await rolledBack(w);
  assert.equal(done.state.verification?.status, 'Pending');

  // The controller dies before the verification is due; a new one starts with nothing in memory.
  w.now = done.state.verification!.dueAt + 60_000;
  w.driver = w.newDriver();
  await w.tick();
  await w.driver.verificationsSettled();

  assert.ok((await w.events(done.id)).includes('rollout.verified'));
  const [incident] = await w.incidents.list({ app: w.app });
  assert.equal(incident?.status, 'Resolved');
  assert.equal((await store.rollouts.get(done.id))?.state.verification?.status, 'Passed');
});

test('a restored revision with no instance running fails its verification and escalates the incident', async () => {
  const w = new World(BLUE_GREEN);
  const done = await rolledBack(w);
  await w.runtime.stopRevision(w.app, 1);
  w.now = done.state.verification!.dueAt;
  await w.tick();
  await w.driver.verificationsSettled();

  const failed = (await store.events.list({ rolloutId: done.id, limit: 1000 })).find(
    (e) => e.type === 'rollout.verify-failed',
  );
  assert.match(failed?.message ?? '', /health failed/);
  const [incident] = await w.incidents.list({ app: w.app });
  assert.equal(incident?.status, 'Escalated');
  assert.equal((await store.rollouts.get(done.id))?.state.verification?.status, 'Failed');
});

/** `requests` per second to `revision` over [from, to) in seconds, `errors` of them 500s, all fast. */
function traffic(w: World, revision: number, from: number, to: number, requests: number, errors = 0): void {
  for (let second = from; second < to; second++) {
    const counts = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
    counts[0] = requests;
    w.metrics.samples.push({
      second,
      revisions: [
        {
          revision,
          requests,
          errors5xx: errors,
          connectFailures: 0,
          latency: { boundsMs: LATENCY_BOUNDS_MS, counts },
        },
      ],
    });
  }
}

/** Ticks once per second for `seconds`, with `perSecond` requests (errors among them) to `revision`. */
async function serve(w: World, revision: number, seconds: number, perSecond: number, errors = 0) {
  for (let i = 0; i < seconds; i++) {
    const second = Math.floor(w.now / 1000);
    traffic(w, revision, second, second + 1, perSecond, errors);
    w.now += 1000;
    await w.tick();
    await w.driver.verificationsSettled();
  }
}

const WATCHED = '{ watch: 1m, for: 5s }';

test('given a rollback verified at the switch, when the restored revision fails 10% of requests 20 s into the watch, then the incident escalates to P0 at once, naming the check', async () => {
  const w = new World(BLUE_GREEN, WATCHED);
  const done = await rolledBack(w);
  w.now = done.state.verification!.dueAt;
  traffic(w, 3, Math.floor(w.now / 1000) - 5, Math.floor(w.now / 1000), 50);
  await w.tick();
  await w.driver.verificationsSettled();
  const watching = (await store.rollouts.get(done.id))!.state.verification!;
  assert.equal(watching.status, 'Watching');
  assert.equal(watching.until, w.now + 60_000);
  let [incident] = await w.incidents.list({ app: w.app });
  assert.equal(incident?.status, 'Verifying');
  assert.equal(incident?.watch?.until, watching.until);
  assert.match(w.changes.at(-1)?.message ?? '', /^Rollback complete - .*\n- Rollback status: success/);

  await serve(w, 3, 20, 50);
  [incident] = await w.incidents.list({ app: w.app });
  assert.equal(incident?.status, 'Verifying', 'healthy traffic keeps it verifying');

  // The breach must hold `for` (5 s): eight seconds of it escalate, long before the minute's end.
  await serve(w, 3, 8, 50, 5);
  [incident] = await w.incidents.list({ app: w.app });
  assert.equal(incident?.status, 'Escalated');
  assert.equal(incident?.severity, 'P0');
  assert.equal(incident?.watch?.result, 'Failed');
  const failed = incident?.verification?.checks.find((c) => !c.passed);
  assert.equal(failed?.name, 'error rate below 1%');
  assert.match(failed?.detail ?? '', /into the watch/);
  assert.ok(
    incident!.verification!.at < incident!.watch!.until,
    'escalated during the watch, not at its end',
  );
  const escalation = w.changes.find((c) => c.change === 'incident.escalated');
  assert.match(escalation?.message ?? '', /^ESCALATED to P0 - .*\n- Failed: error rate below 1%/);
  assert.equal((await store.rollouts.get(done.id))!.state.verification?.status, 'Failed');
  assert.ok((await w.events(done.id)).includes('rollout.verify-failed'));
});

test('given a healthy restored revision, when its watch ends, then the incident is resolved with the checklist held; a controller restarted mid-watch goes on', async () => {
  const w = new World(BLUE_GREEN, WATCHED);
  const done = await rolledBack(w);
  w.now = done.state.verification!.dueAt;
  await w.tick();
  await w.driver.verificationsSettled();
  const [verifying] = await w.incidents.list({ app: w.app });
  assert.equal(verifying?.status, 'Verifying');
  // No request in the seconds after the switch: not a pass, not a failure.
  const first = verifying?.verification?.checks.find((c) => c.name.startsWith('error rate back'));
  assert.equal(first?.notChecked, true);

  await serve(w, 3, 30, 40);
  w.driver = w.newDriver();
  await serve(w, 3, 31, 40);
  const [incident] = await w.incidents.list({ app: w.app });
  assert.equal(incident?.status, 'Resolved');
  assert.equal(incident?.watch?.result, 'Passed');
  const checks = incident?.verification?.checks ?? [];
  assert.deepEqual(
    checks.map((c) => [c.name, c.passed]),
    [
      ['error rate below 1%', true],
      ['p95 latency below 2s', true],
      ['health checks passing', true],
      // The fake runtime measures no usage: not checked, said so, failing nothing.
      ['CPU below 70%', false],
      ['memory below 80%', false],
      ['rule error-rate', true],
      ['rule health-failing', true],
      ['rule unavailable', true],
    ],
  );
  assert.ok(checks.filter((c) => !c.passed).every((c) => c.notChecked));
  assert.ok(w.changes.some((c) => c.change === 'incident.resolved' && /^Resolved - /.test(c.message)));
  assert.equal((await store.rollouts.get(done.id))!.state.verification?.status, 'Passed');
});

test("given verify.checks, when the user's smoke test starts failing during the watch, then the incident escalates with its output", async () => {
  const marker = join(dir.dir, `orders-${randomUUID()}`);
  writeFileSync(marker, '');
  const w = new World(
    BLUE_GREEN,
    `{ watch: 1m, checkEvery: 5s, checks: [ { name: an order can be placed, command: "test -e ${marker}" } ] }`,
  );
  const done = await rolledBack(w);
  w.now = done.state.verification!.dueAt;
  await w.tick();
  await w.driver.verificationsSettled();
  const [verifying] = await w.incidents.list({ app: w.app });
  assert.equal(verifying?.status, 'Verifying');
  assert.equal(
    verifying?.verification?.checks.find((c) => c.name === 'an order can be placed')?.passed,
    true,
  );

  await serve(w, 3, 6, 40);
  assert.equal((await w.incidents.list({ app: w.app }))[0]?.status, 'Verifying');
  rmSync(marker);
  await serve(w, 3, 6, 40);
  const [incident] = await w.incidents.list({ app: w.app });
  assert.equal(incident?.status, 'Escalated');
  const failed = incident?.verification?.checks.find((c) => !c.passed);
  assert.equal(failed?.name, 'an order can be placed');
  assert.match(failed?.detail ?? '', /exit/);
});
