// The collection over a real (SQLite) store and in-memory providers: what a rollback leaves to be
// kept, from the journal, the data plane, the analysis series and the runtime's log lines.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { FakeMetrics, FakeRuntime } from '../../../test/support/fake-providers.ts';
import { ERRORS_CRITICAL, errorsCriticalTrigger } from '../../../test/support/incident-fixtures.ts';
import { tempDir } from '../../../test/support/process-fixtures.ts';
import type { MetricsSample } from '../../providers/metrics-source.ts';
import type { Runtime } from '../../providers/runtime.ts';
import { REDACTED } from '../../shared/redact.ts';
import { LATENCY_BOUNDS_MS } from '../../spec/proxy-spec.ts';
import type { RolloutState } from '../../spec/rollout-state.ts';
import { openStore } from '../../store/open-store.ts';
import type { RolloutRecord, Store } from '../../store/types.ts';
import { emptyPoint, pointToJson } from '../analysis/index.ts';
import { instanceSecrets } from '../revisions/instance-env.ts';
import { buildRevisionSpec } from '../revisions/revision-spec.ts';
import { createSecretBox } from '../revisions/secret-box.ts';
import { collectEvidence, type EvidenceSources } from './collect-evidence.ts';
import { decisionRecord } from './evidence.ts';
import type { Incident } from './incident.ts';
import { IncidentService } from './incident-service.ts';

const T = Date.UTC(2024, 0, 15, 14, 30, 0);
const S = T / 1000;
const TOKEN = `tok-${randomBytes(6).toString('hex')}`;
const box = createSecretBox(randomBytes(32).toString('base64'));
const appSpec = { run: { env: {}, cwd: '.', instances: 2, stopTimeout: 1000, command: 'shop' } };

let dir: { dir: string; remove: () => Promise<void> };
let store: Store;
let incidents: IncidentService;

before(async () => {
  dir = await tempDir('rewind-evidence-');
  // Rollouts are created at T by the store's clock (ticking a millisecond a write).
  let storeClock = T;
  store = await openStore({ dataDir: dir.dir, now: () => ++storeClock });
  incidents = new IncidentService({ store, now: () => T + 60_000 });
});
after(async () => {
  await store.close();
  await dir.remove();
});

const STATE: RolloutState = { steps: [], index: 0, stepStartedAt: null, weight: 0, compensation: null };

/** An app at v1 (revision 1, with a secret) and v2 (revision 2: SHOP_ERROR_RATE set). */
async function shopApp(app: string): Promise<void> {
  await store.apps.upsert(app, appSpec);
  const carry = { config: {}, secrets: { SHOP_API_TOKEN: box.encrypt(TOKEN) }, flagSetVersion: null };
  const spec = (version: string, env: Record<string, string>) =>
    buildRevisionSpec(appSpec as never, dir.dir, { version, env, carry });
  await store.revisions.create({ app, version: 'v1', spec: spec('v1', {}) });
  await store.revisions.create({ app, version: 'v2', spec: spec('v2', { SHOP_ERROR_RATE: '0.7' }) });
}

const bucket = (second: number, ...revisions: [number, number, number][]): MetricsSample => ({
  second,
  revisions: revisions.map(([revision, requests, errors5xx]) => {
    const counts = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
    counts[2] = requests;
    return {
      revision,
      requests,
      errors5xx,
      connectFailures: 0,
      latency: { boundsMs: LATENCY_BOUNDS_MS, counts },
    };
  }),
});

function sources(metrics: FakeMetrics, runtime: Runtime | undefined): EvidenceSources {
  return {
    store,
    metrics,
    runtime,
    secretsOf: (spec) => instanceSecrets('any', spec, { secrets: box }),
    now: () => T + 60_000,
  };
}

/** A rollout of `app` from revision `from` to `to`, created at T by the store's clock. */
function rolloutOf(
  id: string,
  app: string,
  [kind, fromRevision, toRevision]: [RolloutRecord['kind'], number, number],
  state: RolloutState = STATE,
): Promise<RolloutRecord> {
  return store.rollouts.create({
    id,
    app,
    kind,
    strategy: 'canary',
    fromRevision,
    toRevision,
    phase: 'RolledBack',
    state,
  });
}

async function openFor(rollout: RolloutRecord): Promise<Incident> {
  return incidents.open({
    app: rollout.app,
    rolloutId: rollout.id,
    severity: 'P0',
    revisions: { from: { number: 1, version: 'v1' }, to: { number: 2, version: 'v2' } },
    trigger: errorsCriticalTrigger(T + 40_000),
    at: T + 40_000,
  });
}

test('a deploy rolled back by a rule: its lines redacted, both series, the diff by name, the decision with its reference', async () => {
  const app = 'shop-deploy';
  await shopApp(app);
  const before = { from: S - 50, to: S - 1, requests: 5000, errors: 5, latency: [0, 0, 5000] };
  const rollout = await rolloutOf('r-deploy', app, ['deploy', 1, 2], {
    ...STATE,
    analysis: { since: T, before },
  });
  const rule = ERRORS_CRITICAL;
  const verdict = {
    rule,
    phase: 'Breach' as const,
    observed: 0.7,
    threshold: 0.6,
    breachingSince: T + 39_000,
    window: { from: T + 39_000, to: T + 40_000 },
    sample: 100,
    message: 'error rate 70% above 60%',
  };
  const rules = [{ name: 'errors-critical', phase: 'Breach', message: 'error rate 70% above 60%' }];
  await store.events.append({
    app,
    rolloutId: rollout.id,
    at: T,
    type: 'deploy.started',
    message: 'deploy of v2',
  });
  await store.events.append({
    app,
    rolloutId: rollout.id,
    at: T + 40_000,
    type: 'analysis.decision',
    message: 'rolling back: error rate 70% above 60%',
    data: {
      severity: 'P0',
      summary: 'errors-critical Breach',
      ...decisionRecord({ verdict }, { judgment: null, rules }),
    },
  });
  // Seconds the data plane no longer holds, still in the analysis series of the rollout.
  await store.analysis.record(
    rollout.id,
    [S + 5, S + 6].map((second) => ({
      revision: 2,
      second,
      data: pointToJson({ ...emptyPoint(second), requests: 10, errors5xx: 1 }),
    })),
    0,
  );
  const metrics = new FakeMetrics();
  for (let s = S + 10; s <= S + 45; s++)
    metrics.samples.push(
      bucket(s, [1, 100, 0], ...(s <= S + 40 ? [[2, 50, 35] as [number, number, number]] : [])),
    );
  const runtime = new FakeRuntime();
  runtime.lines.push(
    { at: T + 1000, instance: `${app}/1/0`, stream: 'stdout', line: 'shop v1: not evidence' },
    { at: T + 2000, instance: `${app}/2/0`, stream: 'stdout', line: 'shop v2 listening' },
    { at: T + 30_000, instance: `${app}/2/1`, stream: 'stderr', line: `500 GET /products (token ${TOKEN})` },
  );
  const events = await store.events.list({ rolloutId: rollout.id });
  const incident = await openFor(rollout);
  const evidence = await collectEvidence(sources(metrics, runtime), { incident, rollout, events });

  assert.equal(evidence.collectedAt, T + 60_000);
  assert.deepEqual(
    evidence.logs!.lines.map((l) => l.line),
    ['shop v2 listening', `500 GET /products (token ${REDACTED})`],
  );
  assert.equal(evidence.logs!.redacted, 1);
  assert.ok(!JSON.stringify(evidence).includes(TOKEN), 'no secret value anywhere');

  const [bad, restored] = evidence.series.revisions;
  assert.deepEqual([bad!.revision, bad!.role, restored!.revision, restored!.role], [2, 'bad', 1, 'restored']);
  assert.deepEqual(
    bad!.points.map((p) => p.second - S),
    [5, 6, ...Array.from({ length: 31 }, (_, i) => 10 + i)],
    'the analysis series first, then the data plane',
  );
  assert.equal(bad!.points.at(-1)!.errorRate, 0.7);
  assert.equal(restored!.points.length, 36);
  assert.equal(evidence.series.from, rollout.createdAt - 30_000, 'from 30s before the rollout');
  assert.equal(evidence.series.to, T + 60_000, 'to the end of the last complete second');

  assert.deepEqual(evidence.diff, {
    from: 1,
    to: 2,
    changes: [
      { kind: 'version', key: 'version', change: 'changed', from: 'v1', to: 'v2' },
      { kind: 'env', key: 'SHOP_ERROR_RATE', change: 'added', from: null, to: '0.7' },
    ],
  });
  const d = evidence.decision!;
  assert.equal(d.at, T + 40_000);
  assert.equal(d.event, 'analysis.decision');
  assert.deepEqual(d.rule, rule);
  assert.equal(d.sample, 100);
  assert.deepEqual(d.rules, rules);
  assert.equal(d.summary, 'errors-critical Breach');
  assert.deepEqual(d.reference, {
    revision: 1,
    from: S - 50,
    to: S - 1,
    requests: 5000,
    errors: 5,
    errorRate: 0.001,
    p99: d.reference!.p99,
  });
  assert.ok(d.reference!.p99! > 0);

  // Kept with the incident: one write, and what the JSON carries.
  const stored = await incidents.setEvidence(incident.id, evidence);
  assert.deepEqual(stored.evidence, evidence);
});

test("a rollback started by the post-deploy watch finds the watch's decision just before it", async () => {
  const app = 'shop-watch';
  await shopApp(app);
  const deploy = await rolloutOf('r-watched', app, ['deploy', 1, 2]);
  const judgment = {
    verdict: 'Worse' as const,
    metric: 'errorRate' as const,
    message: 'worse than before the switch',
    stats: { before: 0.001, after: 0.3 },
    basis: 'beforeAfter' as const,
  };
  await store.events.append({
    app,
    rolloutId: deploy.id,
    at: T + 40_000,
    type: 'analysis.decision',
    message: 'rolling back during the watch: worse than before the switch',
    data: {
      severity: 'P0',
      summary: 'judgment Worse',
      ...decisionRecord({ verdict: judgment }, { judgment, rules: [] }),
    },
  });
  await store.revisions.create({
    app,
    version: 'v1',
    spec: (await store.revisions.get(app, 1))!.spec,
    copiedFrom: 1,
  });
  const rollback = await rolloutOf('r-rollback', app, ['rollback', 2, 3]);
  await store.events.append({
    app,
    rolloutId: rollback.id,
    at: T + 40_100,
    type: 'rollback.started',
    message: 'automatic rollback',
  });
  const incident = await incidents.open({
    app,
    rolloutId: rollback.id,
    severity: 'P0',
    revisions: { from: { number: 3, version: 'v1' }, to: { number: 2, version: 'v2' } },
    trigger: { kind: 'judgment', judgment: 'before/after', metric: 'errorRate', message: 'worse' },
  });
  const evidence = await collectEvidence(sources(new FakeMetrics(), new FakeRuntime()), {
    incident,
    rollout: rollback,
    events: await store.events.list({ rolloutId: rollback.id }),
  });
  assert.equal(evidence.decision!.at, T + 40_000);
  assert.equal(evidence.decision!.event, 'analysis.decision');
  assert.deepEqual(evidence.decision!.judgment, judgment);
  assert.deepEqual(
    evidence.diff?.changes.map((c) => c.key),
    ['version', 'SHOP_ERROR_RATE'],
  );
});

test('what cannot be read is said in its part, and the rest is kept', async () => {
  const app = 'shop-failing';
  await shopApp(app);
  const rollout = await rolloutOf('r-failing', app, ['deploy', 1, 2]);
  await store.events.append({
    app,
    rolloutId: rollout.id,
    at: T + 40_000,
    type: 'step.failed',
    message: 'bake failed',
  });
  const incident = await openFor(rollout);
  const events = await store.events.list({ rolloutId: rollout.id });
  const metrics = new FakeMetrics();
  metrics.failing = 'agent unreachable';
  const broken = new FakeRuntime();
  broken.logs = async () => {
    throw new Error('socket closed');
  };
  const failed = await collectEvidence(sources(metrics, broken), { incident, rollout, events });
  assert.equal(failed.series.error, 'agent unreachable');
  assert.deepEqual(
    failed.series.revisions.map((r) => r.points.length),
    [0, 0],
  );
  assert.equal(failed.logs!.error, 'could not read the logs of revision 2: socket closed');
  assert.equal(failed.decision!.event, 'step.failed');
  assert.equal(failed.diff!.changes.length, 2);
  const noRuntime = await collectEvidence(sources(new FakeMetrics(), undefined), {
    incident,
    rollout,
    events,
  });
  assert.match(noRuntime.logs!.error!, /has no runtime/);
});

test('seconds appended before and after the collection are all kept, bounded, in one series per revision', async () => {
  const app = 'shop-append';
  await shopApp(app);
  const rollout = await rolloutOf('r-append', app, ['deploy', 1, 2]);
  const incident = await openFor(rollout);
  // A watch of the restored revision, after the switch, before the evidence was gathered.
  await incidents.appendSeries(incident.id, [bucket(S + 50, [1, 100, 1])]);
  const metrics = new FakeMetrics();
  metrics.samples.push(bucket(S + 40, [1, 100, 0], [2, 10, 7]), bucket(S + 50, [1, 90, 0]));
  const evidence = await collectEvidence(sources(metrics, new FakeRuntime()), {
    incident,
    rollout,
    events: [],
  });
  await incidents.setEvidence(incident.id, evidence);
  const after = await incidents.appendSeries(incident.id, [
    bucket(S + 70, [1, 100, 0]),
    bucket(S + 71, [1, 100, 0]),
  ]);
  const restored = after.evidence!.series.revisions.find((r) => r.role === 'restored')!;
  assert.deepEqual(
    restored.points.map((p) => [p.second - S, p.requests]),
    [
      [40, 100],
      [50, 90],
      [70, 100],
      [71, 100],
    ],
    'the collection read second 50 again; the later seconds joined it',
  );
  assert.equal(after.evidence!.series.to, (S + 72) * 1000);
  assert.ok(after.evidence!.logs, 'the parts gathered stay');
  const many = Array.from({ length: 1000 }, (_, i) => bucket(S + 100 + i, [1, 10, 0]));
  const bounded = await incidents.appendSeries(incident.id, many);
  assert.equal(bounded.evidence!.series.revisions.find((r) => r.role === 'restored')!.points.length, 900);
});
