import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Rollout } from '../api/responses.ts';
import { rolloutLine } from './follow-rollout.ts';
import { type AppStatusView, logsNote, renderStatus, shownInstances } from './status-view.ts';

const instance = (revision: number, phase: string) => ({
  id: `shop/${revision}/0`,
  app: 'shop',
  revision,
  index: 0,
  phase,
  pid: phase === 'Stopped' ? null : 100 + revision,
  port: 3000 + revision,
  restarts: 0,
  startedAt: null,
  lastExit: null,
  reason: null,
  health: phase === 'Running' ? 'Healthy' : 'Unknown',
});

const rollout = (over: Partial<Rollout>): Rollout => ({
  id: 'r1',
  app: 'shop',
  kind: 'deploy',
  strategy: 'canary',
  fromRevision: 3,
  toRevision: 6,
  phase: 'Progressing',
  state: null,
  reason: null,
  error: null,
  generation: 1,
  createdAt: 0,
  updatedAt: 0,
  finishedAt: null,
  ...over,
});

// Stable 3; 1 kept warm (in traffic at 0%); 2 and 4 retired; 5 crash-looping; 6 rolling out.
const status: AppStatusView = {
  name: 'shop',
  listen: '127.0.0.1:8080',
  stableRevision: 3,
  stableVersion: 'v3',
  activeRollout: rollout({}),
  analysis: null,
  watch: null,
  steadyWatch: null,
  lastProvenDrill: null,
  traffic: [
    { revision: 3, weight: 100, upstreams: 1 },
    { revision: 1, weight: 0, upstreams: 1 },
  ],
  instances: [
    instance(1, 'Running'),
    instance(2, 'Stopped'),
    instance(3, 'Running'),
    instance(4, 'Stopped'),
    instance(5, 'Failed'),
    instance(6, 'Starting'),
  ],
};

test('status leaves out the stopped instances of retired revisions unless --all', () => {
  const ids = (all: boolean) => shownInstances(status, all).shown.map((i) => i.id);
  assert.deepEqual(ids(false), ['shop/1/0', 'shop/3/0', 'shop/5/0', 'shop/6/0']);
  assert.equal(shownInstances(status, false).hidden, 2);
  assert.equal(ids(true).length, 6);
  // A stopped instance of a revision in play (here the rollout's target) still shows.
  const stoppedTarget = { ...status, instances: [instance(6, 'Stopped')] };
  assert.deepEqual(shownInstances(stoppedTarget, false), { shown: stoppedTarget.instances, hidden: 0 });
  const text = renderStatus(status);
  assert.doesNotMatch(text, /shop\/2\/0|shop\/4\/0/);
  assert.match(text, /\(2 stopped instances of retired revisions not shown: --all lists them\)/);
  assert.match(renderStatus(status, { all: true }), /shop\/4\/0 +Stopped/);
  assert.doesNotMatch(renderStatus(status, { all: true }), /not shown/);
});

test('logs say whose lines they show', () => {
  assert.equal(
    logsNote(status),
    'the lines of revision 3 (v3, the stable one); revision 6 is rolling out: --revision 6 shows its lines',
  );
  assert.equal(
    logsNote({ ...status, activeRollout: null }),
    'the lines of revision 3 (v3, the stable one); --revision N shows another, --all every revision',
  );
  assert.equal(
    logsNote({ ...status, stableRevision: null, activeRollout: null }),
    'no revision serves yet: the lines of every revision',
  );
});

test('a rollout that waits at a pause step says so, and that promote goes on', () => {
  const steps = [{ name: 'setWeight', weight: 20 }, { name: 'pause', durationMs: 10_000 }, { name: 'pause' }];
  const at = (index: number, paused: unknown = null) =>
    rollout({ phase: 'Paused', state: { steps, index, stepStartedAt: 1_000, weight: 20, paused } });
  assert.equal(
    rolloutLine(at(1), 5_000),
    'deploy to revision 6: Paused at a pause step of 10s, 6s left (rewind promote shop goes on now)',
  );
  assert.equal(
    rolloutLine(at(2), 5_000),
    'deploy to revision 6: Paused at a pause step that waits for rewind promote shop',
  );
  assert.equal(rolloutLine(at(1, { at: 2_000, reason: 'lunch' }), 5_000), 'deploy to revision 6: Paused');
  assert.equal(
    rolloutLine(rollout({ phase: 'Baking', state: { steps, index: 3 } })),
    'deploy to revision 6: Baking',
  );
  assert.equal(
    rolloutLine(rollout({ phase: 'RollingBack', error: 'aborted: looks wrong' })),
    'deploy to revision 6: RollingBack (aborted: looks wrong)',
  );
});

test('status says when maintenance mode is on, by whom and why, right under the app', () => {
  const since = Date.parse('2025-03-01T10:00:00Z');
  const manual = renderStatus({
    ...status,
    maintenance: {
      since,
      retryAfterSeconds: 120,
      page: 'custom',
      reason: 'disk swap',
      by: 'ops',
      source: 'manual',
      rolloutId: null,
    },
  }).split('\n');
  assert.match(
    manual[1]!,
    /^MAINTENANCE: on since 10:00:00\.000 \(\d+d ago\), by ops: every request gets 503 with its page, Retry-After 120s$/,
  );
  assert.equal(manual[2], '  reason: disk swap');
  const auto = renderStatus({
    ...status,
    maintenance: {
      since,
      retryAfterSeconds: 60,
      page: 'default',
      reason: 'revision 7 needs a cold start',
      by: 'rewind',
      source: 'auto',
      rolloutId: 'r7',
    },
  });
  assert.match(
    auto,
    /by rewind \(maintenance: auto, revision 7 needs a cold start\): every request gets 503 with the default page/,
  );
  assert.doesNotMatch(renderStatus(status), /MAINTENANCE/);
  assert.doesNotMatch(renderStatus({ ...status, maintenance: null }), /MAINTENANCE/);
});
