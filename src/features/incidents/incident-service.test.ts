// The service over a real (SQLite) store: the store contract suite covers PostgreSQL.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openStore } from '../../store/open-store.ts';
import type { Store } from '../../store/types.ts';
import type { Incident } from './incident.ts';
import { type IncidentChange, IncidentService, type OpenIncident } from './incident-service.ts';

const T = Date.UTC(2024, 0, 15, 14, 30, 0);
let root: string;
let store: Store;
let clock = T;
const now = () => clock;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'rewind-incidents-'));
  // The store's own clock orders lists: strictly increasing, so "newest first" is deterministic.
  let storeClock = T;
  store = await openStore({ dataDir: root, now: () => ++storeClock });
  await store.apps.upsert('shop', {});
  await store.apps.upsert('cart', {});
});

after(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

const opening = (extra: Partial<OpenIncident> = {}): OpenIncident => ({
  app: 'shop',
  rolloutId: 'r-1',
  severity: 'P1',
  revisions: { from: { number: 1, version: 'v1.0' }, to: { number: 2, version: 'v2.0' } },
  trigger: {
    kind: 'rule',
    rule: 'errors',
    metric: 'error_rate',
    observed: 0.12,
    threshold: 0.05,
    message: 'error rate 12% > 5%',
  },
  ...extra,
});

test('open creates an Open incident with a readable id, a title and an opening timeline entry', async () => {
  const changes: [IncidentChange, Incident][] = [];
  const service = new IncidentService({ store, now, onChange: (c, i) => changes.push([c, i]) });
  const incident = await service.open(
    opening({ timeline: [{ at: T - 60_000, event: 'Rollout started', detail: 'canary v2.0' }] }),
  );
  assert.match(incident.id, /^inc-20240115T143000-[0-9a-f]{4}$/);
  assert.equal(incident.status, 'Open');
  assert.equal(incident.severity, 'P1');
  assert.equal(incident.title, 'shop: rolled back v2.0: error rate 12% > 5%');
  assert.equal(incident.openedAt, T);
  assert.equal(incident.resolvedAt, null);
  assert.deepEqual(
    incident.timeline.map((e) => e.event),
    ['Rollout started', 'Incident opened'],
  );
  assert.deepEqual(incident.rollback, {
    startedAt: T,
    trafficRestoredAt: null,
    completedAt: null,
    durationMs: null,
  });
  assert.equal(incident.verification, null);
  assert.deepEqual(await service.get(incident.id), incident);
  assert.deepEqual(changes, [['incident.opened', incident]]);
  const record = await store.incidents.get(incident.id);
  assert.equal(record?.rolloutId, 'r-1');
  assert.equal(record?.status, 'Open');
});

test('timeline, actions, rollback timing and impact accumulate; passed verification resolves', async () => {
  const changes: IncidentChange[] = [];
  const service = new IncidentService({ store, now, onChange: (c) => changes.push(c) });
  clock = T;
  const { id } = await service.open(opening());
  // Concurrent writers do not lose each other's entries.
  await Promise.all([
    service.addTimeline(id, { at: T + 400, event: 'Traffic restored', detail: 'v1.0 100%' }),
    service.addAction(id, { at: T + 100, action: 'set weights v1.0=100 v2.0=0', by: 'rewind', result: 'ok' }),
    service.addAction(id, { at: T + 900, action: 'stopped revision 2', by: 'rewind', result: 'ok' }),
    service.addTimeline(id, { at: T + 200, event: 'Weights applied' }),
    service.setRollback(id, { trafficRestoredAt: T + 400 }),
  ]);
  let incident = await service.setRollback(id, { completedAt: T + 90_000 });
  assert.deepEqual(incident.rollback, {
    startedAt: T,
    trafficRestoredAt: T + 400,
    completedAt: T + 90_000,
    durationMs: 90_000,
  });
  assert.deepEqual(
    incident.timeline.map((e) => e.event),
    ['Incident opened', 'Weights applied', 'Traffic restored'],
  );
  assert.deepEqual(
    incident.actions.map((a) => a.action),
    ['set weights v1.0=100 v2.0=0', 'stopped revision 2'],
  );
  incident = await service.setImpact(id, {
    ...incident.impact,
    requestsServed: 100,
    requestsFailed: 12,
    errorRate: 0.12,
  });
  assert.equal(incident.impact.requestsServed, 100);

  clock = T + 95_000;
  incident = await service.setVerification(id, {
    passed: true,
    checks: [{ name: 'http /health', passed: true, detail: '200 in 3ms' }],
  });
  assert.equal(incident.status, 'Resolved');
  assert.equal(incident.severity, 'P1');
  assert.equal(incident.resolvedAt, T + 95_000);
  assert.equal(incident.verification?.passed, true);
  assert.equal(incident.timeline.at(-1)?.event, 'Verification passed');
  assert.equal((await store.incidents.get(id))?.resolvedAt, T + 95_000);
  assert.deepEqual(changes, ['incident.opened', 'incident.resolved']);
});

test('failed verification escalates and raises severity to P0', async () => {
  const changes: IncidentChange[] = [];
  const service = new IncidentService({ store, now, onChange: (c) => changes.push(c) });
  const { id } = await service.open(opening({ severity: 'P2', app: 'cart' }));
  const incident = await service.setVerification(id, {
    passed: false,
    checks: [
      { name: 'http /health', passed: false, detail: '503' },
      { name: 'smoke', passed: true, detail: 'ok' },
    ],
  });
  assert.equal(incident.status, 'Escalated');
  assert.equal(incident.severity, 'P0');
  assert.equal(incident.resolvedAt, null);
  assert.match(incident.timeline.at(-1)?.detail ?? '', /failed: http \/health \(503\); escalated to P0/);
  const record = await store.incidents.get(id);
  assert.equal(record?.severity, 'P0');
  assert.equal(record?.status, 'Escalated');
  assert.deepEqual(changes, ['incident.opened', 'incident.escalated']);
});

test('list is newest first and filters by app; unknown ids fail clearly', async () => {
  const service = new IncidentService({ store, now: () => ++clock });
  const a = await service.open(opening({ app: 'cart', title: 'first' }));
  const b = await service.open(opening({ app: 'cart', title: 'second' }));
  const listed = await service.list({ app: 'cart', limit: 2 });
  assert.deepEqual(
    listed.map((i) => i.id),
    [b.id, a.id],
  );
  assert.ok((await service.list()).length >= 4);
  assert.equal(await service.get('inc-nope'), undefined);
  await assert.rejects(service.addTimeline('inc-nope', { event: 'x' }), /incident inc-nope not found/);
});

test('a throwing listener does not fail the caller', async () => {
  const service = new IncidentService({
    store,
    now,
    onChange: () => {
      throw new Error('listener bug');
    },
  });
  const incident = await service.open(opening());
  assert.equal(incident.status, 'Open');
});
