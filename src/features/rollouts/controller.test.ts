// The controller over in-memory fakes (test/support/fake-providers.ts) and a real SQLite store:
// the commands, the rollback's journal-then-switch order and the traffic plan of a canary, with no
// agent, process or proxy. Tests wait on conditions the store or the fakes show, never on time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CANARY_AT_40,
  controllerOverFakes,
  rolloutFinished as finished,
} from '../../../test/support/controller-fixture.ts';
import { waitFor } from '../../../test/support/process-fixtures.ts';
import type { TrafficPlan } from '../../providers/traffic-router.ts';
import { RewindError } from '../../shared/errors.ts';
import type { RevisionRecord, RolloutRecord, Store } from '../../store/types.ts';
import { parseRevisionSpec } from '../revisions/revision-spec.ts';

const coded = (code: string, extra?: (err: RewindError) => void) => (err: unknown) => {
  assert.ok(err instanceof RewindError, String(err));
  assert.equal(err.code, code, err.message);
  extra?.(err);
  return true;
};

const phaseIs = (store: Store, id: string, phase: RolloutRecord['phase']) =>
  waitFor(`rollout ${id} ${phase}`, async () => (await store.rollouts.get(id))?.phase === phase, 10_000);

test('a deploy creates a revision and its rollout; another is refused while it is active, leaving nothing behind', async () => {
  const f = await controllerOverFakes({ strategy: CANARY_AT_40 });
  try {
    await f.stableIs(1);
    const rollout = await f.controller.deploy('shop', {
      version: 'v2',
      env: { COLOR: 'blue' },
      reason: 'ship v2',
      actor: 'ci',
    });
    assert.deepEqual(
      [rollout.kind, rollout.fromRevision, rollout.toRevision, rollout.reason],
      ['deploy', 1, 2, 'ship v2'],
    );
    const revision = (await f.store.revisions.get('shop', 2))!;
    const spec = parseRevisionSpec(revision.spec);
    assert.equal(revision.version, 'v2');
    assert.equal(spec.command, 'shop --version v2');
    assert.equal(spec.env.COLOR, 'blue');
    assert.equal(spec.author, 'ci');
    const started = (await f.store.events.list({ rolloutId: rollout.id })).find(
      (e) => e.type === 'deploy.started',
    );
    assert.equal(started?.message, 'deploy of v2 as revision 2 (from revision 1)');

    // The canary waits at 40% until promoted: the rollout stays active.
    await phaseIs(f.store, rollout.id, 'Paused');
    await assert.rejects(
      f.controller.deploy('shop', { version: 'v3' }),
      coded('ROLLOUT_IN_PROGRESS', (err) => assert.equal(err.details?.rolloutId, rollout.id)),
    );
    await assert.rejects(
      f.controller.changeConfig('shop', { config: { A: '1' } }),
      coded('ROLLOUT_IN_PROGRESS'),
    );
    assert.deepEqual(
      (await f.store.revisions.list('shop')).map((r) => r.number),
      [2, 1],
      'a refused deploy makes no revision',
    );
    assert.equal((await f.store.rollouts.active('shop'))?.id, rollout.id);
  } finally {
    await f.close();
  }
});

test('a bad version or env key is refused before anything is read or written', async () => {
  const f = await controllerOverFakes({ start: false });
  try {
    await assert.rejects(f.controller.deploy('shop', { version: '../etc' }), coded('VALIDATION_FAILED'));
    await assert.rejects(
      f.controller.deploy('shop', { version: 'v2', env: { 'NOT-A-NAME': 'x' } }),
      coded('VALIDATION_FAILED'),
    );
    await assert.rejects(f.controller.deploy('nope', { version: 'v2' }), coded('APP_NOT_FOUND'));
    assert.deepEqual(await f.store.revisions.list('shop'), []);
    assert.deepEqual(await f.store.rollouts.list('shop'), []);
  } finally {
    await f.close();
  }
});

test('a rollback journals its rollout and the copy of its target before the router switches', async () => {
  const f = await controllerOverFakes();
  try {
    await f.stableIs(1);
    const v2 = await f.controller.deploy('shop', { version: 'v2' });
    await finished(f.store, v2.id);
    await f.stableIs(2);

    // What the store held at each plan the router was asked to put in force.
    const seen: { plan: TrafficPlan; active?: RolloutRecord; revisions: RevisionRecord[] }[] = [];
    f.providers.traffic.beforeApply = async (plan) => {
      seen.push({
        plan,
        active: await f.store.rollouts.active('shop'),
        revisions: await f.store.revisions.list('shop'),
      });
    };
    const rollback = await f.controller.rollback('shop', { reason: 'v2 is slow', actor: 'ops' });
    assert.equal(rollback.kind, 'rollback');
    assert.equal(rollback.fromRevision, 2);

    // Revision 1 was warm: the switch happened before rollback() answered, on its instance.
    const switchedAt = seen.findIndex((s) => s.plan.revisions[0]?.revision === rollback.toRevision);
    assert.notEqual(switchedAt, -1, 'the switch was put in force before rollback() answered');
    const atSwitch = seen[switchedAt]!;
    assert.deepEqual(atSwitch.plan.revisions[0], { revision: rollback.toRevision, unit: 1, weight: 100 });
    assert.equal(atSwitch.active?.id, rollback.id, 'the rollout was journalled before the switch');
    assert.equal(atSwitch.active?.phase, 'Promoting');
    assert.equal(atSwitch.active?.state.weight, 100);
    const copy = atSwitch.revisions.find((r) => r.number === rollback.toRevision);
    assert.equal(copy?.copiedFrom, 1, 'the copy of the target was journalled with it');

    const events = await f.store.events.list({ rolloutId: rollback.id });
    const types = events.map((e) => e.type);
    assert.ok(types.indexOf('traffic.switched') < types.indexOf('rollback.started'), types.join(', '));
    const done = await finished(f.store, rollback.id);
    assert.equal(done.phase, 'Completed');
    const incidents = await f.store.incidents.list({ app: 'shop' });
    assert.equal(incidents.length, 1, 'a rollback by hand opens an incident');
  } finally {
    f.providers.traffic.beforeApply = null;
    await f.close();
  }
});

test('promote, pause, resume and abort are refused when nothing is rolling out, and write nothing', async () => {
  const f = await controllerOverFakes();
  try {
    await f.stableIs(1);
    const initial = (await f.store.rollouts.list('shop'))[0]!;
    await finished(f.store, initial.id);
    const before = await f.store.events.list({ app: 'shop' });
    const commands: [string, () => Promise<unknown>][] = [
      ['promote', () => f.controller.promote('shop', false)],
      ['promote', () => f.controller.promote('shop', true)],
      ['pause', () => f.controller.pause('shop')],
      ['resume', () => f.controller.resume('shop')],
      ['abort', () => f.controller.abort('shop', 'no reason')],
    ];
    for (const [verb, run] of commands) {
      await assert.rejects(
        run(),
        coded('NO_ACTIVE_ROLLOUT', (err) =>
          assert.match(err.message, new RegExp(`nothing rolling out to ${verb}`)),
        ),
      );
    }
    const after = await f.store.events.list({ app: 'shop' });
    assert.deepEqual(
      after.slice(before.length).filter((e) => /^rollout\.(promoted|paused|resumed|aborted)$/.test(e.type)),
      [],
    );
    assert.equal(await f.store.rollouts.active('shop'), undefined);
    await assert.rejects(f.controller.pause('nope'), coded('APP_NOT_FOUND'));
  } finally {
    await f.close();
  }
});

test('a canary at 40% serves 60/40 with the revision before the stable one warm at weight 0', async () => {
  const f = await controllerOverFakes({ strategy: CANARY_AT_40 });
  try {
    await f.stableIs(1);
    const v2 = await f.controller.deploy('shop', { version: 'v2' });
    await phaseIs(f.store, v2.id, 'Paused');
    await f.controller.promote('shop', true);
    await finished(f.store, v2.id);
    await f.stableIs(2);

    const v3 = await f.controller.deploy('shop', { version: 'v3' });
    await phaseIs(f.store, v3.id, 'Paused');
    const plan = await waitFor(
      'the plan at 40%',
      () => {
        const last = f.providers.traffic.applied.at(-1);
        return last?.revisions.some((r) => r.revision === 3 && r.weight === 40) && last;
      },
      10_000,
    );
    assert.deepEqual(plan.revisions, [
      { revision: 2, unit: 2, weight: 60 },
      { revision: 3, unit: 3, weight: 40 },
      { revision: 1, unit: 1, weight: 0 },
    ]);
    assert.equal(plan.match.forceHeader, f.spec.routing.forceHeader);
    // Kept warm, so not retired: every unit of the plan still runs.
    assert.deepEqual(
      [...new Set((await f.providers.runtime.list('shop')).map((i) => i.revision))].sort(),
      [1, 2, 3],
    );
    assert.ok(
      !f.providers.runtime.calls.some((c) => c.startsWith('stop')),
      f.providers.runtime.calls.join(', '),
    );
  } finally {
    await f.close();
  }
});
