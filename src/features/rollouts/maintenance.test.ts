// Maintenance mode through the controller, over in-memory fakes and a real SQLite store: by hand
// (the plan carries the page until it is turned off, the store keeps it), refused inputs that
// change nothing, and `maintenance: auto` around a rollback that needs a cold start.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  type ControllerFixture,
  controllerOverFakes,
  rolloutFinished as finished,
} from '../../../test/support/controller-fixture.ts';
import { waitFor } from '../../../test/support/process-fixtures.ts';
import { RewindError } from '../../shared/errors.ts';
import { MAX_MAINTENANCE_PAGE_BYTES } from '../../spec/maintenance.ts';
import type { RolloutRecord, Store } from '../../store/types.ts';
import { defaultMaintenancePage, waitWords } from './maintenance-page.ts';

const coded = (code: string, message: RegExp) => (err: unknown) => {
  assert.ok(err instanceof RewindError, String(err));
  assert.equal(err.code, code);
  assert.match(err.message, message);
  return true;
};

/** The fixture's shop at revision 1, given to `fn`, closed after. */
async function withShop(
  options: Parameters<typeof controllerOverFakes>[0],
  fn: (f: ControllerFixture) => Promise<void>,
): Promise<void> {
  const f = await controllerOverFakes(options);
  try {
    await f.stableIs(1);
    await fn(f);
  } finally {
    await f.close();
  }
}

const verified = (store: Store, id: string) =>
  waitFor(
    `rollout ${id} verified`,
    // Passed at the switch: the watch after it (verify.watch) follows.
    async () => (await store.rollouts.get(id))?.state.verification?.status === 'Watching',
    10_000,
  );

const eventsOf = async (store: Store, filter: { rolloutId?: string; app?: string }) =>
  (await store.events.list({ ...filter, limit: 1000 })).filter((e) => e.type.startsWith('maintenance.'));

test('by hand: on puts the page in the plan, a tick keeps it (it is read from the store), off takes it out', () =>
  withShop({}, async (f) => {
    const on = await f.controller.maintenance('shop', { on: true, reason: 'disk swap', actor: 'ops' });
    assert.equal(on.changed, true);
    assert.equal(typeof on.inForceAt, 'number');
    assert.deepEqual(f.providers.traffic.applied.at(-1)?.maintenance, {
      retryAfterSeconds: 60,
      page: defaultMaintenancePage('shop', 60),
    });
    const state = (await f.store.apps.get('shop'))?.maintenance;
    assert.equal(state?.source, 'manual');
    assert.equal(state?.by, 'ops');
    assert.equal(state?.reason, 'disk swap');

    // What a restarted controller does: the plan comes from the store again.
    f.providers.traffic.resync();
    const before = f.providers.traffic.applied.length;
    await f.controller.kick('shop');
    assert.ok(f.providers.traffic.applied.length > before);
    assert.equal(f.providers.traffic.applied.at(-1)?.maintenance?.retryAfterSeconds, 60);

    // On again replaces the page and Retry-After, and keeps when it began.
    await f.controller.maintenance('shop', { on: true, page: '<p>later</p>', retryAfterSeconds: 300 });
    assert.deepEqual(f.providers.traffic.applied.at(-1)?.maintenance, {
      retryAfterSeconds: 300,
      page: '<p>later</p>',
    });
    assert.equal((await f.store.apps.get('shop'))?.maintenance?.since, state?.since);

    const off = await f.controller.maintenance('shop', { on: false, reason: 'done', actor: 'ops' });
    assert.equal(off.changed, true);
    assert.equal(f.providers.traffic.applied.at(-1)?.maintenance, undefined);
    assert.equal((await f.store.apps.get('shop'))?.maintenance, null);
    const again = await f.controller.maintenance('shop', { on: false });
    assert.deepEqual(again, { maintenance: null, changed: false, inForceAt: null });

    assert.deepEqual(
      (await eventsOf(f.store, { app: 'shop' })).map((e) => e.message),
      [
        'maintenance mode on (by ops): every request is answered 503 with the default page, Retry-After 1 minute; reason: disk swap',
        'maintenance mode changed (by api): every request is answered 503 with its page (12 bytes), Retry-After 5 minutes',
        'maintenance mode off (by ops): done; the app serves again',
      ],
    );
  }));

test("rewind.yaml's page and Retry-After are the defaults; a page that cannot be used is refused and nothing changes", () =>
  withShop({ more: '    maintenance: { page: down.html, retryAfter: 2m }\n' }, async (f) => {
    await assert.rejects(
      f.controller.maintenance('shop', { on: true }),
      coded('VALIDATION_FAILED', /maintenance.page: cannot read .*down\.html \(ENOENT\); fix the path/),
    );
    await assert.rejects(
      f.controller.maintenance('shop', { on: true, page: 'x'.repeat(MAX_MAINTENANCE_PAGE_BYTES + 1) }),
      coded('VALIDATION_FAILED', /^page: the page is 256.1 KiB, over the 256 KiB limit/),
    );
    await assert.rejects(
      f.controller.maintenance('shop', { on: false, retryAfterSeconds: 5 }),
      coded('VALIDATION_FAILED', /retryAfterSeconds: only for turning maintenance mode on/),
    );
    assert.equal((await f.store.apps.get('shop'))?.maintenance, null);
    assert.deepEqual(await eventsOf(f.store, { app: 'shop' }), []);

    writeFileSync(join(f.dir, 'down.html'), '<h1>shop: back at noon</h1>');
    await f.controller.maintenance('shop', { on: true });
    assert.deepEqual(f.providers.traffic.applied.at(-1)?.maintenance, {
      retryAfterSeconds: 120,
      page: '<h1>shop: back at noon</h1>',
    });
  }));

const COLD = '{ blueGreen: { bake: 0s, watch: 0s, keepPreviousWarm: 0s, drainTimeout: 1s } }';

test('maintenance: auto turns it on for a rollback that starts its target cold, off once the rollback is verified', () =>
  withShop({ strategy: COLD, more: '    maintenance: auto\n' }, async (f) => {
    const v2 = await f.controller.deploy('shop', { version: 'v2' });
    await finished(f.store, v2.id);
    // Nothing keeps revision 1 warm: it is stopped.
    await waitFor('revision 1 stopped', async () => f.providers.runtime.calls.includes('stop 1'), 10_000);

    const rollback = await f.controller.rollback('shop', { reason: 'v2 corrupts carts' });
    const on = (await f.store.apps.get('shop'))?.maintenance;
    assert.equal(on?.source, 'auto');
    assert.equal(on?.rolloutId, rollback.id);
    assert.equal(on?.by, 'rewind');
    assert.match(on?.reason ?? '', /needs a cold start/);
    assert.ok(
      f.providers.traffic.applied.some((p) => p.maintenance !== undefined),
      'the page was put in force',
    );

    const done = await finished(f.store, rollback.id);
    assert.equal(done.phase, 'Completed');
    await verified(f.store, rollback.id);
    assert.equal((await f.store.apps.get('shop'))?.maintenance, null);
    assert.equal(f.providers.traffic.applied.at(-1)?.maintenance, undefined);

    const types = (await f.store.events.list({ rolloutId: rollback.id, limit: 1000 })).map((e) => e.type);
    const at = (t: string) => types.indexOf(t);
    assert.ok(at('maintenance.on') >= 0 && at('maintenance.on') < at('traffic.switched'), types.join(', '));
    assert.ok(at('rollout.verified') < at('maintenance.off'), types.join(', '));
    const [incident] = await f.store.incidents.list({ app: 'shop' });
    const timeline = (incident!.data as { timeline: { event: string }[] }).timeline.map((t) => t.event);
    assert.ok(timeline.includes('Maintenance mode on'), timeline.join(', '));
    assert.ok(timeline.includes('Maintenance mode off'), timeline.join(', '));
  }));

test('maintenance: auto leaves a warm rollback alone; maintenance on by hand stays on through a rollback', () =>
  withShop({ more: '    maintenance: auto\n' }, async (f) => {
    const v2 = await f.controller.deploy('shop', { version: 'v2' });
    await finished(f.store, v2.id);
    const warm = await f.controller.rollback('shop', { reason: 'warm' });
    await finished(f.store, warm.id);
    assert.deepEqual(await eventsOf(f.store, { rolloutId: warm.id }), []);
    assert.equal((await f.store.apps.get('shop'))?.maintenance, null);

    await f.controller.maintenance('shop', { on: true, actor: 'ops' });
    const v4 = await f.controller.deploy('shop', { version: 'v4' });
    await finished(f.store, v4.id);
    const back = await f.controller.rollback('shop', { reason: 'again' });
    const noted = await eventsOf(f.store, { rolloutId: back.id });
    assert.match(
      noted[0]?.message ?? '',
      /^maintenance mode was on already \(since .*, by ops\): it stays on$/,
    );
    await verified(f.store, back.id);
    assert.equal((await f.store.apps.get('shop'))?.maintenance?.source, 'manual');
  }));

test('a tick ends auto maintenance whose owner is over (a controller died before it could)', () =>
  withShop({ more: '    maintenance: auto\n' }, async (f) => {
    const [first] = (await f.store.rollouts.list('shop')) as [RolloutRecord];
    const left = {
      since: Date.now(),
      retryAfterSeconds: 60,
      page: null,
      reason: 'revision 1 needs a cold start',
      by: 'rewind',
      source: 'auto' as const,
      rolloutId: first.id,
    };
    for (const rolloutId of [first.id, null]) {
      await f.store.apps.setMaintenance('shop', { ...left, rolloutId });
      await waitFor('maintenance off', async () => (await f.store.apps.get('shop'))?.maintenance === null);
    }
    assert.deepEqual(
      (await eventsOf(f.store, { app: 'shop' })).map((e) => e.message),
      [
        `maintenance mode off (maintenance: auto): rollout ${first.id} ended Completed; the app serves again`,
        'maintenance mode off (maintenance: auto): what turned it on is no longer running; the app serves again',
      ],
    );
  }));

test('maintenance: auto holds the app in maintenance while a downtime (db restore --overwrite) runs, and after a failure ends it', () =>
  withShop({ more: '    maintenance: auto\n' }, async (f) => {
    const during = async () => {
      const state = (await f.store.apps.get('shop'))?.maintenance;
      assert.deepEqual(
        [state?.source, state?.rolloutId, state?.reason],
        ['auto', null, 'db restore --overwrite of revision 1'],
      );
      assert.equal(f.providers.traffic.applied.at(-1)?.maintenance?.retryAfterSeconds, 60);
      return 'restored';
    };
    const why = 'db restore --overwrite of revision 1';
    assert.equal(await f.controller.whileIdle('shop', during, why), 'restored');
    assert.equal((await f.store.apps.get('shop'))?.maintenance, null);
    await assert.rejects(
      f.controller.whileIdle(
        'shop',
        async () => {
          await during();
          throw new Error('restore refused');
        },
        why,
      ),
      /restore refused/,
    );
    assert.equal((await f.store.apps.get('shop'))?.maintenance, null);
    assert.equal(f.providers.traffic.applied.at(-1)?.maintenance, undefined);
    // Without a downtime, nothing changes.
    await f.controller.whileIdle('shop', async (ctx) => ctx.spec.name);
    assert.equal((await eventsOf(f.store, { app: 'shop' })).length, 4);
  }));

test('the default page names the app (escaped), says when to come back, and loads nothing', () => {
  const page = defaultMaintenancePage('<shop>', 90);
  assert.match(page, /<title>&lt;shop&gt;: down for maintenance<\/title>/);
  assert.match(page, /<meta http-equiv="refresh" content="90">/);
  assert.match(page, /tries again in 90 seconds/);
  assert.doesNotMatch(page, /<script|<link|src=|url\(|https?:/);
  assert.deepEqual([1, 60, 90, 120, 3600, 7200, 5400].map(waitWords), [
    '1 second',
    '1 minute',
    '90 seconds',
    '2 minutes',
    '1 hour',
    '2 hours',
    '90 minutes',
  ]);
});
