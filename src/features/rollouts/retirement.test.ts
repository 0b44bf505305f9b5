// Retirement over fakes and a real SQLite store, on a mocked clock: a unit nothing needs is
// drained while the router says requests are in flight to it, and stopped once it has none or its
// drain timeout has passed.
import assert from 'node:assert/strict';
import { after, before, beforeEach, mock, test } from 'node:test';
import { shopSpec, tempSqliteStore } from '../../../test/support/controller-fixture.ts';
import { fakeAppProviders } from '../../../test/support/fake-providers.ts';
import { rolloutSettings } from '../../spec/app-spec.ts';
import type { Store } from '../../store/types.ts';
import { buildRevisionSpec } from '../revisions/revision-spec.ts';
import type { ManagedApp } from './app-context.ts';
import { retire } from './retirement.ts';

const spec = shopSpec();
const DRAIN_MS = rolloutSettings(spec).drainTimeout;
let temp: Awaited<ReturnType<typeof tempSqliteStore>>;
let store: Store;

before(async () => {
  temp = await tempSqliteStore('rewind-retire-');
  store = temp.store;
  await store.apps.upsert('shop', spec);
  for (const version of ['v1', 'v2'])
    await store.revisions.create({
      app: 'shop',
      version,
      spec: buildRevisionSpec(spec, temp.dir, { version }),
      reason: null,
    });
});
after(() => temp.close());
beforeEach(() => mock.timers.reset());

/** Revisions 1 and 2 each with an instance up; 2 is the one to keep. */
async function twoUnits() {
  const providers = fakeAppProviders();
  for (const revision of [1, 2])
    await providers.runtime.start({
      app: 'shop',
      revision,
      index: 0,
      command: 'x',
      cwd: '.',
      env: {},
      stopTimeoutMs: 1,
    });
  const ctx: ManagedApp = { spec, baseDir: temp.dir, providers, lastTableKey: null, retiring: new Map() };
  const tick = async () =>
    retire(store, ctx, { keep: new Set([2]), instances: await providers.runtime.list('shop') });
  const eventsOf = async (unit: number, since: number) =>
    (await store.events.list({ app: 'shop', afterId: since }))
      .filter((e) => (e.data as { unit?: number } | null)?.unit === unit)
      .map((e) => e.type);
  const lastEventId = async () => (await store.events.list({ app: 'shop' })).at(-1)?.id ?? 0;
  return { providers, ctx, tick, eventsOf, lastEventId };
}

test('a unit with requests in flight drains until its drain timeout, then stops', async () => {
  const { providers, ctx, tick, eventsOf, lastEventId } = await twoUnits();
  providers.traffic.inflightOf.set(1, 3);
  const since = await lastEventId();
  mock.timers.enable({ apis: ['Date'], now: 1_000_000 });

  await tick();
  assert.deepEqual(await eventsOf(1, since), ['revision.retiring']);
  assert.equal(ctx.retiring.get(1), 1_000_000);
  mock.timers.tick(DRAIN_MS - 1);
  await tick();
  assert.deepEqual(providers.runtime.calls, ['start 1/0', 'start 2/0'], 'still draining');

  mock.timers.tick(1);
  await tick();
  assert.deepEqual(providers.runtime.calls, ['start 1/0', 'start 2/0', 'stop 1']);
  assert.deepEqual(await eventsOf(1, since), ['revision.retiring', 'revision.stopped']);
  assert.equal(ctx.retiring.has(1), false);
  assert.deepEqual(
    (await providers.runtime.list('shop')).map((i) => i.revision),
    [2],
    'the unit kept is untouched',
  );
});

test('a unit with nothing in flight stops on the first look', async () => {
  const { providers, ctx, tick, eventsOf, lastEventId } = await twoUnits();
  const since = await lastEventId();
  await tick();
  assert.deepEqual(providers.runtime.calls, ['start 1/0', 'start 2/0', 'stop 1']);
  assert.deepEqual(await eventsOf(1, since), ['revision.retiring', 'revision.stopped']);
  assert.equal(ctx.retiring.size, 0);
});

test('a draining unit that is needed again is kept and forgotten by the retirement', async () => {
  const { providers, ctx, tick } = await twoUnits();
  providers.traffic.inflightOf.set(1, 1);
  await tick();
  assert.equal(ctx.retiring.has(1), true);
  await retire(store, ctx, { keep: new Set([1, 2]), instances: await providers.runtime.list('shop') });
  assert.equal(ctx.retiring.has(1), false);
  assert.ok(!providers.runtime.calls.includes('stop 1'));
});
