// One contract suite, run against every dialect: SQLite in a temp dir and PostgreSQL in a fresh
// database created for this run (REWIND_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres).

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { RolloutState } from '../spec/rollout-state.ts';
import { openStore, redactUrl, SQLITE_FILE_NAME } from './open-store.ts';
import {
  type EventRecord,
  type NewAuditEntry,
  type NewIncident,
  type NewRollout,
  type NewToken,
  RolloutConflictError,
  type RolloutPhase,
  StaleWriteError,
  type Store,
  StoreNotFoundError,
  TERMINAL_PHASES,
  TokenNameTakenError,
} from './types.ts';

const ADMIN_URL = process.env.REWIND_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const START_POSTGRES = 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start';

interface Harness {
  readonly url?: string;
  readonly dataDir?: string;
  cleanup(): Promise<void>;
}

/** A clock the test controls: strictly increasing, so updatedAt > createdAt is checkable. */
function fakeClock(start = 1_700_000_000_000) {
  let t = start;
  return () => {
    t += 1;
    return t;
  };
}

async function sqliteHarness(): Promise<Harness> {
  const dataDir = join(await mkdtemp(join(tmpdir(), 'rewind-store-')), 'data');
  return { dataDir, cleanup: () => rm(join(dataDir, '..'), { recursive: true, force: true }) };
}

async function postgresHarness(): Promise<Harness> {
  const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (err) {
    const why = err instanceof Error ? err.message || (err as { code?: string }).code : String(err);
    throw new Error(
      `PostgreSQL is not reachable at ${redactUrl(ADMIN_URL)} (${why}). Start it with:\n  ${START_POSTGRES}\n` +
        'or point REWIND_TEST_DATABASE_URL at a server where the user may CREATE DATABASE.' +
        (process.env.CI === 'true'
          ? ' (CI=true: the PostgreSQL half of the store contract is required.)'
          : ''),
      { cause: err },
    );
  }
  const name = `rewind_test_${randomBytes(6).toString('hex')}`;
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async cleanup() {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

const DIALECTS = [
  { name: 'sqlite', harness: sqliteHarness },
  { name: 'postgres', harness: postgresHarness },
] as const;

let appCounter = 0;
/** A fresh app name per test: tests share one database per dialect. */
const uniqueApp = (label: string) => `${label}-${++appCounter}-${randomBytes(3).toString('hex')}`;

function rollout(app: string, id: string, extra: Partial<NewRollout> = {}): NewRollout {
  return {
    id,
    app,
    kind: 'deploy',
    strategy: 'canary',
    fromRevision: 1,
    toRevision: 2,
    phase: 'Pending',
    state: STATE,
    ...extra,
  };
}

/** A rollout state as the step machine writes it. */
const STATE: RolloutState = {
  steps: [
    { name: 'setWeight', weight: 10 },
    { name: 'pause', durationMs: 60_000 },
  ],
  index: 0,
  stepStartedAt: null,
  weight: 0,
  compensation: null,
};

const awkwardJson = {
  text: 'quotes " and \' and \\ backslash, newline\nand unicode: é 漢字 🚀',
  int: 42,
  negative: -7,
  float: 3.25,
  big: Number.MAX_SAFE_INTEGER,
  bools: [true, false],
  nil: null,
  empty: { list: [], map: {} },
  nested: { a: { b: { c: [1, 'two', { three: 3 }] } } },
};

/** A state carrying keys the schema does not know: they survive the round trip. */
const awkwardState: RolloutState = { ...STATE, ...awkwardJson };

for (const dialect of DIALECTS) {
  describe(`store contract: ${dialect.name}`, () => {
    let harness: Harness | undefined;
    let store: Store;
    const open = (now?: () => number) =>
      openStore({
        ...(harness?.url !== undefined && { url: harness.url }),
        ...(harness?.dataDir !== undefined && { dataDir: harness.dataDir }),
        ...(now && { now }),
      });

    before(async () => {
      harness = await dialect.harness();
      store = await open(fakeClock());
    });

    after(async () => {
      await store?.close();
      await harness?.cleanup();
    });

    test('reports its dialect', () => {
      assert.equal(store.dialect, dialect.name);
    });

    describe('apps', () => {
      test('upsert creates, get reads, missing is undefined', async () => {
        const name = uniqueApp('web');
        const created = await store.apps.upsert(name, { replicas: 2 });
        assert.equal(created.name, name);
        assert.deepEqual(created.spec, { replicas: 2 });
        assert.equal(created.stableRevision, null);
        assert.equal(typeof created.createdAt, 'number');
        assert.equal(created.createdAt, created.updatedAt);
        assert.deepEqual(await store.apps.get(name), created);
        assert.equal(await store.apps.get(uniqueApp('nope')), undefined);
      });

      test('upsert again replaces the spec, keeps createdAt and stableRevision', async () => {
        const name = uniqueApp('web');
        const first = await store.apps.upsert(name, { v: 1 });
        await store.apps.setStableRevision(name, 3);
        const second = await store.apps.upsert(name, { v: 2 });
        assert.deepEqual(second.spec, { v: 2 });
        assert.equal(second.createdAt, first.createdAt);
        assert.ok(second.updatedAt > first.updatedAt);
        assert.equal(second.stableRevision, 3);
        assert.deepEqual(await store.apps.get(name), second);
      });

      test('setStableRevision sets and clears; unknown app throws', async () => {
        const name = uniqueApp('api');
        await store.apps.upsert(name, {});
        await store.apps.setStableRevision(name, 7);
        assert.equal((await store.apps.get(name))?.stableRevision, 7);
        await store.apps.setStableRevision(name, null);
        assert.equal((await store.apps.get(name))?.stableRevision, null);
        await assert.rejects(store.apps.setStableRevision(uniqueApp('ghost'), 1), /unknown app/);
        // A "not found" the API can tell from a failure of the store (a 404, not a 500).
        await assert.rejects(
          store.apps.setStableRevision(uniqueApp('ghost'), 1),
          (err: unknown) => err instanceof StoreNotFoundError && err.kind === 'app',
        );
      });

      test('setMaintenance turns it on with its page, replaces it, turns it off; unknown app throws', async () => {
        const name = uniqueApp('web');
        const created = await store.apps.upsert(name, {});
        assert.equal(created.maintenance, null);
        const on = {
          since: 1_700_000_000_000,
          retryAfterSeconds: 120,
          page: '<!doctype html><p>Back soon: "quotes", é 漢字</p>\n',
          reason: 'restore',
          by: 'ops',
          source: 'manual' as const,
          rolloutId: null,
        };
        await store.apps.setMaintenance(name, on);
        assert.deepEqual((await store.apps.get(name))?.maintenance, on);
        const auto = { ...on, page: null, source: 'auto' as const, rolloutId: 'r-1', by: 'rewind' };
        await store.apps.setMaintenance(name, auto);
        assert.deepEqual((await store.apps.get(name))?.maintenance, auto);
        // The rest of the app is untouched, and upsert keeps it on.
        await store.apps.upsert(name, { v: 2 });
        assert.deepEqual((await store.apps.get(name))?.maintenance, auto);
        await store.apps.setMaintenance(name, null);
        assert.equal((await store.apps.get(name))?.maintenance, null);
        await assert.rejects(
          store.apps.setMaintenance(uniqueApp('ghost'), on),
          (err: unknown) => err instanceof StoreNotFoundError && err.kind === 'app',
        );
      });

      test('list returns every app ordered by name', async () => {
        const names = [uniqueApp('zz-list'), uniqueApp('aa-list'), uniqueApp('mm-list')];
        for (const n of names) await store.apps.upsert(n, { n });
        const listed = (await store.apps.list()).map((a) => a.name);
        for (const n of names) assert.ok(listed.includes(n), `${n} listed`);
        assert.deepEqual(listed, [...listed].sort());
      });

      test('specs round-trip as JSON, whatever their shape', async () => {
        for (const spec of [awkwardJson, [1, 2, 3], 'just a string', 12.5, true, null]) {
          const name = uniqueApp('json');
          await store.apps.upsert(name, spec);
          assert.deepEqual((await store.apps.get(name))?.spec, spec);
        }
      });
    });

    describe('revisions', () => {
      test('create numbers 1, 2, 3 per app and stores every field', async () => {
        const app = uniqueApp('rev');
        const other = uniqueApp('rev-other');
        await store.apps.upsert(app, {});
        await store.apps.upsert(other, {});
        const r1 = await store.revisions.create({ app, version: 'v1', spec: awkwardJson });
        const o1 = await store.revisions.create({ app: other, version: 'x1', spec: {} });
        const r2 = await store.revisions.create({ app, version: 'v2', spec: { run: 'node b.js' } });
        const r3 = await store.revisions.create({
          app,
          version: 'v1',
          spec: awkwardJson,
          copiedFrom: 1,
          reason: 'rollback to 1',
        });
        assert.deepEqual([r1.number, r2.number, r3.number, o1.number], [1, 2, 3, 1]);
        assert.equal(r1.app, app);
        assert.equal(r1.version, 'v1');
        assert.deepEqual(r1.spec, awkwardJson);
        assert.equal(r1.copiedFrom, null);
        assert.equal(r1.reason, null);
        assert.equal(typeof r1.createdAt, 'number');
        assert.equal(r3.copiedFrom, 1);
        assert.equal(r3.reason, 'rollback to 1');
        assert.deepEqual(await store.revisions.get(app, 3), r3);
        assert.deepEqual(await store.revisions.get(app, 1), r1);
        assert.equal(await store.revisions.get(app, 4), undefined);
        assert.equal(await store.revisions.get(uniqueApp('none'), 1), undefined);
      });

      test('create for an unknown app throws a clear error', async () => {
        await assert.rejects(
          store.revisions.create({ app: uniqueApp('ghost'), version: 'v1', spec: {} }),
          /unknown app/,
        );
      });

      test('list is newest first and honours limit', async () => {
        const app = uniqueApp('rev-list');
        await store.apps.upsert(app, {});
        for (let i = 1; i <= 5; i++) await store.revisions.create({ app, version: `v${i}`, spec: { i } });
        assert.deepEqual(
          (await store.revisions.list(app)).map((r) => r.number),
          [5, 4, 3, 2, 1],
        );
        assert.deepEqual(
          (await store.revisions.list(app, 2)).map((r) => r.version),
          ['v5', 'v4'],
        );
        assert.deepEqual(await store.revisions.list(uniqueApp('empty')), []);
      });

      test('20 concurrent creates get 1..20 with no gaps or duplicates', async () => {
        const app = uniqueApp('rev-race');
        await store.apps.upsert(app, {});
        const created = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.revisions.create({ app, version: `v${i}`, spec: { i } }),
          ),
        );
        const numbers = created.map((r) => r.number).sort((a, b) => a - b);
        assert.deepEqual(
          numbers,
          Array.from({ length: 20 }, (_, i) => i + 1),
        );
        // Each create returned what it stored.
        for (const r of created) assert.deepEqual(await store.revisions.get(app, r.number), r);
      });

      test('concurrent creates on two apps number each app independently', async () => {
        const a = uniqueApp('rev-a');
        const b = uniqueApp('rev-b');
        await store.apps.upsert(a, {});
        await store.apps.upsert(b, {});
        const created = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            store.revisions.create({ app: i % 2 ? a : b, version: `v${i}`, spec: {} }),
          ),
        );
        for (const app of [a, b]) {
          const mine = created
            .filter((r) => r.app === app)
            .map((r) => r.number)
            .sort((x, y) => x - y);
          assert.deepEqual(mine, [1, 2, 3, 4, 5]);
        }
      });

      test('prune keeps the newest N and every protected number', async () => {
        const app = uniqueApp('prune');
        const bystander = uniqueApp('prune-other');
        await store.apps.upsert(app, {});
        await store.apps.upsert(bystander, {});
        for (let i = 1; i <= 10; i++) await store.revisions.create({ app, version: `v${i}`, spec: {} });
        for (let i = 1; i <= 3; i++)
          await store.revisions.create({ app: bystander, version: `v${i}`, spec: {} });
        assert.equal(await store.revisions.prune(app, 3, [2, 5, 9]), 5);
        assert.deepEqual(
          (await store.revisions.list(app)).map((r) => r.number),
          [10, 9, 8, 5, 2],
        );
        assert.equal(await store.revisions.prune(app, 3, [2, 5]), 0);
        assert.equal(await store.revisions.prune(app, 3, []), 2);
        assert.deepEqual(
          (await store.revisions.list(app)).map((r) => r.number),
          [10, 9, 8],
        );
        assert.equal(await store.revisions.prune(app, 0, [9]), 2);
        assert.deepEqual(
          (await store.revisions.list(app)).map((r) => r.number),
          [9],
        );
        assert.equal((await store.revisions.list(bystander)).length, 3, 'other apps untouched');
        assert.equal(await store.revisions.prune(uniqueApp('none'), 1, []), 0);
      });

      test('numbers are never reused, even after pruning the newest', async () => {
        const app = uniqueApp('no-reuse');
        await store.apps.upsert(app, {});
        for (let i = 1; i <= 3; i++) await store.revisions.create({ app, version: `v${i}`, spec: {} });
        assert.equal(await store.revisions.prune(app, 0, []), 3);
        const next = await store.revisions.create({ app, version: 'v4', spec: {} });
        assert.equal(next.number, 4);
      });
    });

    describe('rollouts', () => {
      const setup = async (label: string) => {
        const app = uniqueApp(label);
        await store.apps.upsert(app, {});
        return app;
      };

      test('create stores every field; get, active, listActive find it', async () => {
        const app = await setup('ro');
        const input = rollout(app, `${app}-r1`, { reason: 'ship it', state: awkwardState });
        const created = await store.rollouts.create(input);
        assert.equal(created.id, input.id);
        assert.equal(created.app, app);
        assert.equal(created.kind, 'deploy');
        assert.equal(created.strategy, 'canary');
        assert.equal(created.fromRevision, 1);
        assert.equal(created.toRevision, 2);
        assert.equal(created.phase, 'Pending');
        assert.deepEqual(created.state, awkwardState);
        assert.equal(created.reason, 'ship it');
        assert.equal(created.error, null);
        assert.equal(typeof created.generation, 'number');
        assert.equal(created.finishedAt, null);
        assert.equal(created.createdAt, created.updatedAt);
        assert.deepEqual(await store.rollouts.get(input.id), created);
        assert.deepEqual(await store.rollouts.active(app), created);
        assert.ok((await store.rollouts.listActive()).some((r) => r.id === input.id));
        assert.equal(await store.rollouts.get(`${app}-missing`), undefined);
        assert.equal(await store.rollouts.active(uniqueApp('idle')), undefined);
      });

      test('createWithRevision writes the revision and the rollout to it together, or neither', async () => {
        const app = await setup('ro-with-rev');
        const first = await store.revisions.create({ app, version: 'v1', spec: { a: 1 } });
        const {
          id: _id,
          app: _app,
          toRevision: _to,
          ...rest
        } = rollout(app, `${app}-r1`, {
          kind: 'rollback',
          fromRevision: first.number,
        });
        const made = await store.rollouts.createWithRevision(
          { app, version: 'v1', spec: { a: 1 }, copiedFrom: first.number, reason: 'back' },
          { ...rest, id: `${app}-r1` },
        );
        assert.equal(made.revision.number, first.number + 1);
        assert.equal(made.revision.copiedFrom, first.number);
        assert.equal(made.rollout.toRevision, made.revision.number);
        assert.equal(made.rollout.app, app);
        assert.deepEqual(await store.rollouts.get(`${app}-r1`), made.rollout);
        assert.deepEqual(await store.revisions.get(app, made.revision.number), made.revision);
        // Refused while that rollout is active: no revision is left behind.
        await assert.rejects(
          store.rollouts.createWithRevision(
            { app, version: 'v1', spec: { a: 1 }, copiedFrom: first.number },
            { ...rest, id: `${app}-r2` },
          ),
          (err: unknown) => err instanceof RolloutConflictError && err.activeRolloutId === `${app}-r1`,
        );
        assert.deepEqual(
          (await store.revisions.list(app)).map((r) => r.number),
          [made.revision.number, first.number],
        );
        assert.equal(await store.rollouts.get(`${app}-r2`), undefined);
        // Not waiting for the disk changes nothing a reader sees, nor the refusals.
        const later = await setup('ro-with-rev-next');
        const next = await store.rollouts.createWithRevision(
          { app: later, version: 'v9', spec: { b: 2 } },
          { ...rest, id: `${later}-r1` },
          { flush: 'next' },
        );
        assert.deepEqual(await store.rollouts.get(`${later}-r1`), next.rollout);
        assert.deepEqual(await store.revisions.get(later, next.revision.number), next.revision);
        await assert.rejects(
          store.rollouts.createWithRevision(
            { app: later, version: 'v9', spec: {} },
            { ...rest, id: `${later}-r2` },
            { flush: 'next' },
          ),
          RolloutConflictError,
        );
        assert.equal((await store.revisions.list(later)).length, 1);
        // The next write is an ordinary durable one.
        await store.events.append({ app: later, type: 'step.started', message: 'after' });
        await assert.rejects(
          store.rollouts.createWithRevision(
            { app: uniqueApp('ghost'), version: 'v1', spec: {} },
            { ...rest, id: 'x' },
          ),
          /ghost/,
        );
      });

      test('fromRevision null, reason defaults to null, rollback kind', async () => {
        const app = await setup('ro-first');
        const created = await store.rollouts.create(
          rollout(app, `${app}-r1`, { fromRevision: null, toRevision: 1, kind: 'rollback' }),
        );
        assert.equal(created.fromRevision, null);
        assert.equal(created.reason, null);
        assert.equal(created.kind, 'rollback');
      });

      test('a second unfinished rollout for the same app is a RolloutConflictError', async () => {
        const app = await setup('ro-conflict');
        const first = await store.rollouts.create(rollout(app, `${app}-r1`));
        await assert.rejects(store.rollouts.create(rollout(app, `${app}-r2`)), (err: unknown) => {
          assert.ok(err instanceof RolloutConflictError);
          assert.equal(err.app, app);
          assert.equal(err.activeRolloutId, first.id);
          return true;
        });
        assert.equal(await store.rollouts.get(`${app}-r2`), undefined);
        // Another app is not affected.
        const other = await setup('ro-conflict-other');
        await store.rollouts.create(rollout(other, `${other}-r1`));
      });

      test('two concurrent creates for one app: exactly one wins', async () => {
        const app = await setup('ro-race');
        const results = await Promise.allSettled([
          store.rollouts.create(rollout(app, `${app}-a`)),
          store.rollouts.create(rollout(app, `${app}-b`)),
        ]);
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r) => r.status === 'rejected');
        assert.equal(won.length, 1);
        assert.equal(lost.length, 1);
        const winner = (won[0] as PromiseFulfilledResult<{ id: string }>).value;
        const reason = (lost[0] as PromiseRejectedResult).reason;
        assert.ok(reason instanceof RolloutConflictError, `got ${reason}`);
        assert.equal(reason.activeRolloutId, winner.id);
        assert.equal((await store.rollouts.active(app))?.id, winner.id);
      });

      test('many concurrent creates across apps: one winner per app', async () => {
        const apps = await Promise.all([setup('ro-many'), setup('ro-many'), setup('ro-many')]);
        const results = await Promise.allSettled(
          apps.flatMap((app) => [1, 2, 3, 4].map((i) => store.rollouts.create(rollout(app, `${app}-${i}`)))),
        );
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
        for (const r of results) {
          if (r.status === 'rejected') assert.ok(r.reason instanceof RolloutConflictError);
        }
      });

      test('a duplicate id is rejected and is not a conflict', async () => {
        const app = await setup('ro-dup');
        const r = await store.rollouts.create(rollout(app, `${app}-r1`));
        await store.rollouts.update(r.id, { phase: 'Completed' });
        await assert.rejects(store.rollouts.create(rollout(app, r.id)), (err: unknown) => {
          assert.ok(!(err instanceof RolloutConflictError));
          assert.match(String(err), /already exists/);
          return true;
        });
      });

      test('create for an unknown app throws a clear error', async () => {
        const app = uniqueApp('ghost');
        await assert.rejects(store.rollouts.create(rollout(app, `${app}-r1`)), /unknown app/);
      });

      test('update applies the patch and bumps generation', async () => {
        const app = await setup('ro-update');
        const r = await store.rollouts.create(rollout(app, `${app}-r1`));
        const u1 = await store.rollouts.update(r.id, {
          phase: 'Progressing',
          state: { ...STATE, index: 1, weight: 10 },
        });
        assert.equal(u1.phase, 'Progressing');
        assert.deepEqual(u1.state, { ...STATE, index: 1, weight: 10 });
        assert.equal(u1.generation, r.generation + 1);
        assert.ok(u1.updatedAt > r.updatedAt);
        assert.equal(u1.createdAt, r.createdAt);
        assert.equal(u1.finishedAt, null);
        assert.equal(u1.reason, r.reason);

        const u2 = await store.rollouts.update(r.id, { error: 'probe failed' });
        assert.equal(u2.phase, 'Progressing', 'absent fields are kept');
        assert.deepEqual(u2.state, { ...STATE, index: 1, weight: 10 });
        assert.equal(u2.error, 'probe failed');
        assert.equal(u2.generation, r.generation + 2);

        const u3 = await store.rollouts.update(r.id, { error: null, state: awkwardState });
        assert.equal(u3.error, null);
        assert.deepEqual(u3.state, awkwardState);

        const u4 = await store.rollouts.update(r.id, {});
        assert.equal(u4.generation, u3.generation + 1, 'an empty patch still bumps');
        assert.deepEqual(await store.rollouts.get(r.id), u4);
      });

      test('update with expectedGeneration: match writes, mismatch is a StaleWriteError', async () => {
        const app = await setup('ro-stale');
        const r = await store.rollouts.create(rollout(app, `${app}-r1`));
        const u1 = await store.rollouts.update(r.id, { phase: 'Progressing' }, r.generation);
        assert.equal(u1.generation, r.generation + 1);
        await assert.rejects(
          store.rollouts.update(r.id, { phase: 'Paused' }, r.generation),
          (err: unknown) => err instanceof StaleWriteError,
        );
        const after = await store.rollouts.get(r.id);
        assert.equal(after?.phase, 'Progressing', 'a stale write changes nothing');
        assert.equal(after?.generation, u1.generation);
      });

      test('concurrent updates at the same generation: exactly one wins', async () => {
        const app = await setup('ro-cas');
        const r = await store.rollouts.create(rollout(app, `${app}-r1`));
        const phases: RolloutPhase[] = ['Progressing', 'Paused', 'RollingBack', 'Promoting', 'Baking'];
        const results = await Promise.allSettled(
          phases.map((phase) => store.rollouts.update(r.id, { phase }, r.generation)),
        );
        const won = results.filter((x) => x.status === 'fulfilled');
        assert.equal(won.length, 1);
        for (const x of results) {
          if (x.status === 'rejected') assert.ok(x.reason instanceof StaleWriteError);
        }
        const final = await store.rollouts.get(r.id);
        assert.equal(final?.generation, r.generation + 1);
        assert.equal(final?.phase, (won[0] as PromiseFulfilledResult<{ phase: RolloutPhase }>).value.phase);
      });

      test('update of an unknown rollout throws, and is not a StaleWriteError', async () => {
        await assert.rejects(store.rollouts.update('no-such-rollout', { phase: 'Failed' }), /not found/);
        await assert.rejects(
          store.rollouts.update('no-such-rollout', { phase: 'Failed' }, 1),
          (err: unknown) => {
            assert.ok(!(err instanceof StaleWriteError));
            assert.ok(err instanceof StoreNotFoundError && err.kind === 'rollout');
            return true;
          },
        );
      });

      for (const terminal of TERMINAL_PHASES) {
        test(`phase ${terminal} finishes the rollout and frees the app`, async () => {
          const app = await setup(`ro-${terminal.toLowerCase()}`);
          const r = await store.rollouts.create(rollout(app, `${app}-r1`));
          const done = await store.rollouts.update(r.id, { phase: terminal });
          assert.equal(typeof done.finishedAt, 'number');
          assert.equal(done.finishedAt, done.updatedAt);
          assert.equal(await store.rollouts.active(app), undefined);
          assert.ok(!(await store.rollouts.listActive()).some((x) => x.id === r.id));
          // A later write keeps the original finishedAt.
          const again = await store.rollouts.update(r.id, { phase: terminal, state: { ...STATE, index: 2 } });
          assert.equal(again.finishedAt, done.finishedAt);
          // The app can roll out again.
          const next = await store.rollouts.create(rollout(app, `${app}-r2`));
          assert.equal((await store.rollouts.active(app))?.id, next.id);
        });
      }

      test('an explicit finishedAt wins over the automatic one', async () => {
        const app = await setup('ro-finished-at');
        const r = await store.rollouts.create(rollout(app, `${app}-r1`));
        const done = await store.rollouts.update(r.id, { phase: 'RolledBack', finishedAt: 1234 });
        assert.equal(done.finishedAt, 1234);
      });

      test('non-terminal phases do not finish', async () => {
        const app = await setup('ro-nonterminal');
        const r = await store.rollouts.create(rollout(app, `${app}-r1`));
        for (const phase of ['Progressing', 'Paused', 'Promoting', 'Baking', 'RollingBack'] as const) {
          const u = await store.rollouts.update(r.id, { phase });
          assert.equal(u.finishedAt, null, phase);
        }
        assert.equal((await store.rollouts.active(app))?.id, r.id);
      });

      test('reopening a finished rollout while another is active is a RolloutConflictError', async () => {
        const app = await setup('ro-reopen');
        const r1 = await store.rollouts.create(rollout(app, `${app}-r1`));
        await store.rollouts.update(r1.id, { phase: 'Failed' });
        const r2 = await store.rollouts.create(rollout(app, `${app}-r2`));
        await assert.rejects(
          store.rollouts.update(r1.id, { phase: 'Progressing', finishedAt: null }),
          (err: unknown) => err instanceof RolloutConflictError && err.activeRolloutId === r2.id,
        );
      });

      test('list is newest first with limit; listActive spans apps', async () => {
        const app = await setup('ro-list');
        const ids: string[] = [];
        for (let i = 1; i <= 4; i++) {
          const r = await store.rollouts.create(rollout(app, `${app}-r${i}`, { toRevision: i + 1 }));
          ids.push(r.id);
          if (i < 4) await store.rollouts.update(r.id, { phase: 'Completed' });
        }
        assert.deepEqual(
          (await store.rollouts.list(app)).map((r) => r.id),
          [...ids].reverse(),
        );
        assert.deepEqual(
          (await store.rollouts.list(app, 2)).map((r) => r.id),
          [ids[3], ids[2]],
        );
        assert.deepEqual(await store.rollouts.list(uniqueApp('none')), []);

        const other = await setup('ro-list-other');
        const o = await store.rollouts.create(rollout(other, `${other}-r1`));
        const active = await store.rollouts.listActive();
        const mine = active.filter((r) => r.app === app || r.app === other).map((r) => r.id);
        assert.deepEqual(mine, [ids[3], o.id]);
        assert.ok(active.every((r) => r.finishedAt === null));
      });
    });

    describe('events', () => {
      test('append assigns increasing ids and defaults', async () => {
        const app = uniqueApp('ev');
        const e1 = await store.events.append({ app, type: 'deploy.started', message: 'started' });
        const e2 = await store.events.append({
          app,
          rolloutId: `${app}-r1`,
          at: 42,
          type: 'step.started',
          message: 'weight 10%',
          data: awkwardJson,
        });
        assert.equal(typeof e1.id, 'number');
        assert.ok(e2.id > e1.id);
        assert.equal(e1.rolloutId, null);
        assert.equal(e1.data, null);
        assert.equal(typeof e1.at, 'number');
        assert.ok(e1.at > 1_000_000_000_000);
        assert.equal(e2.at, 42);
        assert.equal(e2.rolloutId, `${app}-r1`);
        assert.deepEqual(e2.data, awkwardJson);
        assert.deepEqual(await store.events.list({ app }), [e1, e2]);
      });

      test('onAppend hears each appended event in order until unsubscribed', async () => {
        const app = uniqueApp('ev-tap');
        const heard: EventRecord[] = [];
        const stop = store.events.onAppend((e) => {
          if (e.app === app) heard.push(e);
        });
        const e1 = await store.events.append({ app, type: 'deploy.started', message: 'one' });
        const e2 = await store.events.append({ app, type: 'step.started', message: 'two' });
        stop();
        await store.events.append({ app, type: 'step.started', message: 'after unsubscribe' });
        assert.deepEqual(heard, [e1, e2]);
      });

      test('list filters by app, rollout, afterId and limit, oldest first', async () => {
        const a = uniqueApp('ev-a');
        const b = uniqueApp('ev-b');
        const appended = [];
        for (let i = 0; i < 6; i++) {
          appended.push(
            await store.events.append({
              app: i % 2 ? b : a,
              rolloutId: i < 4 ? `${a}-r${i % 2}` : null,
              type: 'step.started',
              message: `m${i}`,
              data: { i },
            }),
          );
        }
        const ids = (xs: { id: number }[]) => xs.map((x) => x.id);
        const all = ids(appended);
        assert.deepEqual(
          all,
          [...all].sort((x, y) => x - y),
        );
        assert.deepEqual(ids(await store.events.list({ app: a })), [all[0], all[2], all[4]]);
        assert.deepEqual(ids(await store.events.list({ rolloutId: `${a}-r1` })), [all[1], all[3]]);
        assert.deepEqual(ids(await store.events.list({ app: a, rolloutId: `${a}-r0` })), [all[0], all[2]]);
        assert.deepEqual(ids(await store.events.list({ app: b, afterId: all[1] })), [all[3], all[5]]);
        assert.deepEqual(ids(await store.events.list({ app: a, limit: 2 })), [all[0], all[2]]);
        assert.deepEqual(ids(await store.events.list({ afterId: all[5] })), []);
        const unfiltered = ids(await store.events.list({ afterId: (all[0] ?? 0) - 1 }));
        assert.deepEqual(unfiltered.slice(0, 6), all, 'no filter lists every app');
      });

      test('tailing with afterId sees each event exactly once', async () => {
        const app = uniqueApp('ev-tail');
        const seen: number[] = [];
        let cursor = 0;
        const poll = async () => {
          for (const e of await store.events.list({ app, afterId: cursor, limit: 3 })) {
            seen.push(Number((e.data as { i: number }).i));
            cursor = e.id;
          }
        };
        for (let i = 0; i < 10; i++) {
          await store.events.append({ app, type: 'step.started', message: `tick ${i}`, data: { i } });
          if (i % 3 === 0) await poll();
        }
        for (let i = 0; i < 5; i++) await poll();
        assert.deepEqual(
          seen,
          Array.from({ length: 10 }, (_, i) => i),
        );
      });

      test('concurrent appends get distinct ids', async () => {
        const app = uniqueApp('ev-race');
        const events = await Promise.all(
          Array.from({ length: 25 }, (_, i) =>
            store.events.append({ app, type: 'step.started', message: `m${i}` }),
          ),
        );
        assert.equal(new Set(events.map((e) => e.id)).size, 25);
        assert.equal((await store.events.list({ app })).length, 25);
      });
    });

    describe('incidents', () => {
      const incident = (app: string, id: string, extra: Partial<NewIncident> = {}): NewIncident => ({
        id,
        app,
        rolloutId: `${app}-r1`,
        severity: 'P1',
        title: `error rate above 5% on ${app}`,
        data: { id, app, timeline: [{ at: 1, event: 'opened' }], doc: awkwardJson },
        ...extra,
      });

      test('create defaults to Open and round-trips the document', async () => {
        const app = uniqueApp('inc');
        await store.apps.upsert(app, {});
        const created = await store.incidents.create(incident(app, `${app}-i1`));
        assert.equal(created.id, `${app}-i1`);
        assert.equal(created.app, app);
        assert.equal(created.rolloutId, `${app}-r1`);
        assert.equal(created.severity, 'P1');
        assert.equal(created.status, 'Open');
        assert.equal(created.title, `error rate above 5% on ${app}`);
        assert.equal(created.resolvedAt, null);
        assert.equal(created.createdAt, created.updatedAt);
        assert.deepEqual(created.data, incident(app, `${app}-i1`).data);
        assert.deepEqual(await store.incidents.get(created.id), created);
        assert.equal(await store.incidents.get(`${app}-missing`), undefined);

        const manual = await store.incidents.create(
          incident(app, `${app}-i2`, { rolloutId: undefined, status: 'Resolved', severity: 'P3' }),
        );
        assert.equal(manual.rolloutId, null);
        assert.equal(manual.status, 'Resolved');
        assert.equal(manual.resolvedAt, manual.createdAt, 'created Resolved: resolvedAt is set');
      });

      test('create rejects an unknown app and a duplicate id', async () => {
        const app = uniqueApp('inc-bad');
        await assert.rejects(store.incidents.create(incident(app, `${app}-i1`)), /unknown app/);
        await store.apps.upsert(app, {});
        await store.incidents.create(incident(app, `${app}-i1`));
        await assert.rejects(store.incidents.create(incident(app, `${app}-i1`)), /already exists/);
        assert.equal((await store.incidents.list({ app })).length, 1);
      });

      test('list is newest first, filters by app and limits', async () => {
        const a = uniqueApp('inc-a');
        const b = uniqueApp('inc-b');
        await store.apps.upsert(a, {});
        await store.apps.upsert(b, {});
        const made = [];
        for (let i = 0; i < 5; i++) {
          const app = i % 2 ? b : a;
          made.push(await store.incidents.create(incident(app, `${app}-i${i}`)));
        }
        const ids = (xs: { id: string }[]) => xs.map((x) => x.id);
        assert.deepEqual(ids(await store.incidents.list({ app: a })), [`${a}-i4`, `${a}-i2`, `${a}-i0`]);
        assert.deepEqual(ids(await store.incidents.list({ app: b })), [`${b}-i3`, `${b}-i1`]);
        assert.deepEqual(ids(await store.incidents.list({ app: a, limit: 2 })), [`${a}-i4`, `${a}-i2`]);
        assert.deepEqual(await store.incidents.list({ app: uniqueApp('inc-none') }), []);
        const all = ids(await store.incidents.list());
        const mine = all.filter((id) => id.startsWith(a) || id.startsWith(b));
        assert.deepEqual(mine, ids(made).reverse(), 'no filter lists every app, newest first');
        assert.equal((await store.incidents.list({ limit: 1 })).length, 1);
        assert.equal((await store.incidents.list({ limit: 0 })).length, 0);
      });

      test('update patches fields, bumps updatedAt and stamps resolvedAt once', async () => {
        const app = uniqueApp('inc-up');
        await store.apps.upsert(app, {});
        const created = await store.incidents.create(incident(app, `${app}-i1`));
        const doc = { id: created.id, status: 'Escalated', nested: { list: [1, 2] } };
        const escalated = await store.incidents.update(created.id, {
          status: 'Escalated',
          severity: 'P0',
          data: doc,
        });
        assert.equal(escalated.status, 'Escalated');
        assert.equal(escalated.severity, 'P0');
        assert.equal(escalated.title, created.title, 'untouched fields stay');
        assert.deepEqual(escalated.data, doc);
        assert.equal(escalated.resolvedAt, null);
        assert.ok(escalated.updatedAt > created.updatedAt);
        assert.equal(escalated.createdAt, created.createdAt);

        const resolved = await store.incidents.update(created.id, { status: 'Resolved', title: 'fixed' });
        assert.equal(resolved.status, 'Resolved');
        assert.equal(resolved.title, 'fixed');
        assert.deepEqual(resolved.data, doc, 'data untouched when not patched');
        assert.equal(resolved.resolvedAt, resolved.updatedAt);
        const again = await store.incidents.update(created.id, { status: 'Resolved' });
        assert.equal(again.resolvedAt, resolved.resolvedAt, 'resolvedAt is kept once set');
        const reopened = await store.incidents.update(created.id, { status: 'Open', resolvedAt: null });
        assert.equal(reopened.resolvedAt, null);
        const explicit = await store.incidents.update(created.id, { resolvedAt: 1234 });
        assert.equal(explicit.resolvedAt, 1234);
        assert.deepEqual(await store.incidents.get(created.id), explicit);

        await assert.rejects(
          store.incidents.update(`${app}-missing`, { status: 'Resolved' }),
          (err: unknown) =>
            err instanceof StoreNotFoundError && err.kind === 'incident' && /not found/.test(err.message),
        );
      });

      test('concurrent creates all land', async () => {
        const app = uniqueApp('inc-race');
        await store.apps.upsert(app, {});
        await Promise.all(
          Array.from({ length: 20 }, (_, i) => store.incidents.create(incident(app, `${app}-i${i}`))),
        );
        assert.equal((await store.incidents.list({ app })).length, 20);
      });
    });

    describe('drills', () => {
      const drill = (app: string, id: string, version = 'v2') => ({
        id,
        app,
        version,
        report: { id, app, phases: [{ name: 'deploy', ms: 812.5 }], doc: awkwardJson },
      });

      test('create starts Running and round-trips the report', async () => {
        const app = uniqueApp('drill');
        await store.apps.upsert(app, {});
        const created = await store.drills.create(drill(app, `${app}-d1`));
        assert.equal(created.id, `${app}-d1`);
        assert.equal(created.app, app);
        assert.equal(created.version, 'v2');
        assert.equal(created.status, 'Running');
        assert.equal(created.finishedAt, null);
        assert.equal(created.createdAt, created.updatedAt);
        assert.deepEqual(created.report, drill(app, `${app}-d1`).report);
        assert.deepEqual(await store.drills.get(created.id), created);
        assert.equal(await store.drills.get(`${app}-missing`), undefined);
      });

      test('create rejects an unknown app and a duplicate id', async () => {
        const app = uniqueApp('drill-bad');
        await assert.rejects(store.drills.create(drill(app, `${app}-d1`)), /unknown app/);
        await store.apps.upsert(app, {});
        await store.drills.create(drill(app, `${app}-d1`));
        await assert.rejects(store.drills.create(drill(app, `${app}-d1`)), /already exists/);
        assert.equal((await store.drills.list({ app })).length, 1);
      });

      test('update patches the report, and a final status stamps finishedAt', async () => {
        const app = uniqueApp('drill-up');
        await store.apps.upsert(app, {});
        const created = await store.drills.create(drill(app, `${app}-d1`));
        const progressed = await store.drills.update(created.id, { report: { progress: ['deployed'] } });
        assert.equal(progressed.status, 'Running');
        assert.equal(progressed.finishedAt, null);
        assert.deepEqual(progressed.report, { progress: ['deployed'] });
        assert.ok(progressed.updatedAt > created.updatedAt);
        const passed = await store.drills.update(created.id, { status: 'Passed' });
        assert.equal(passed.status, 'Passed');
        assert.equal(passed.finishedAt, passed.updatedAt);
        assert.deepEqual(passed.report, { progress: ['deployed'] }, 'report untouched when not patched');
        assert.deepEqual(await store.drills.get(created.id), passed);
        await assert.rejects(store.drills.update(`${app}-missing`, { status: 'Failed' }), /not found/);
      });

      test('list is newest first, filters by app and status and limits', async () => {
        const a = uniqueApp('drill-a');
        const b = uniqueApp('drill-b');
        await store.apps.upsert(a, {});
        await store.apps.upsert(b, {});
        for (let i = 0; i < 5; i++) {
          const app = i % 2 ? b : a;
          const d = await store.drills.create(drill(app, `${app}-d${i}`));
          if (i !== 4) await store.drills.update(d.id, { status: i === 2 ? 'Failed' : 'Passed' });
        }
        const ids = (xs: { id: string }[]) => xs.map((x) => x.id);
        assert.deepEqual(ids(await store.drills.list({ app: a })), [`${a}-d4`, `${a}-d2`, `${a}-d0`]);
        assert.deepEqual(ids(await store.drills.list({ app: a, status: 'Passed' })), [`${a}-d0`]);
        assert.deepEqual(ids(await store.drills.list({ app: a, status: 'Running' })), [`${a}-d4`]);
        assert.deepEqual(ids(await store.drills.list({ app: b, limit: 1 })), [`${b}-d3`]);
        const all = ids(await store.drills.list()).filter((id) => id.startsWith(a) || id.startsWith(b));
        assert.deepEqual(all, [`${a}-d4`, `${b}-d3`, `${a}-d2`, `${b}-d1`, `${a}-d0`]);
        assert.equal((await store.drills.list({ limit: 0 })).length, 0);
      });
    });

    describe('flag sets', () => {
      const doc = (on: boolean) => ({
        flags: {
          checkout: {
            state: on ? 'ENABLED' : 'DISABLED',
            variants: { on: true, off: false },
            defaultVariant: 'on',
          },
        },
      });

      test('versions count up per app and round-trip', async () => {
        const app = uniqueApp('flags');
        await store.apps.upsert(app, {});
        assert.equal(await store.flagSets.latest(app), undefined);
        const warning = {
          flag: 'checkout',
          path: 'flags.checkout.targeting',
          message: 'flag `checkout` ...',
        };
        const v1 = await store.flagSets.create({
          app,
          document: doc(true),
          author: 'ana',
          diff: [],
          reason: 'first',
          warnings: [warning],
        });
        const v2 = await store.flagSets.create({
          app,
          document: doc(false),
          author: 'bo',
          diff: [{ flag: 'checkout', change: 'changed' }],
        });
        const v3 = await store.flagSets.create({
          app,
          document: doc(true),
          author: 'cy',
          diff: [],
          copiedFrom: 1,
        });
        assert.deepEqual([v1.version, v2.version, v3.version], [1, 2, 3]);
        assert.equal(v1.reason, 'first');
        assert.equal(v2.reason, null);
        assert.equal(v3.copiedFrom, 1);
        assert.deepEqual(v2.document, doc(false));
        assert.deepEqual([v1.warnings, v2.warnings], [[warning], []], 'warnings kept with their version');
        assert.deepEqual((await store.flagSets.get(app, 1))?.warnings, [warning]);
        assert.deepEqual(await store.flagSets.get(app, 2), v2);
        assert.equal(await store.flagSets.get(app, 9), undefined);
        assert.deepEqual(await store.flagSets.latest(app), v3);
        assert.deepEqual(
          (await store.flagSets.list(app)).map((f) => f.version),
          [3, 2, 1],
        );
        assert.deepEqual(
          (await store.flagSets.list(app, 1)).map((f) => f.version),
          [3],
        );
      });

      test('concurrent creates get distinct versions; unknown app is an error', async () => {
        const app = uniqueApp('flags-race');
        await store.apps.upsert(app, {});
        const made = await Promise.all(
          Array.from({ length: 10 }, () =>
            store.flagSets.create({ app, document: doc(true), author: 'x', diff: [] }),
          ),
        );
        assert.deepEqual(
          made.map((f) => f.version).sort((a, b) => a - b),
          [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        );
        await assert.rejects(
          store.flagSets.create({ app: uniqueApp('nope'), document: doc(true), author: 'x', diff: [] }),
          /unknown app/,
        );
      });

      test('watch: PostgreSQL tells every store on the database of new versions; SQLite has no one to tell', async () => {
        const app = uniqueApp('flags-watch');
        await store.apps.upsert(app, {});
        const heard: string[] = [];
        let resyncs = 0;
        let wake = () => {};
        const other = await open();
        const stop = other.flagSets.watch({
          change: (a, version) => {
            if (a === app) heard.push(`${a}@${version}`);
            wake();
          },
          resync: () => {
            resyncs++;
            wake();
          },
        });
        try {
          if (dialect.name === 'sqlite') {
            await store.flagSets.create({ app, document: doc(true), author: 'x', diff: [] });
            assert.deepEqual([heard, resyncs], [[], 0], 'one process, one store: nothing to deliver');
            return;
          }
          // Listening starts with a resync (anything written before it is reloaded).
          while (resyncs === 0) await new Promise<void>((r) => (wake = r));
          // A write that rolls back is never announced; a committed one is, to the writer's store too.
          await assert.rejects(
            store.flagSets.create({ app: uniqueApp('nope'), document: doc(true), author: 'x', diff: [] }),
          );
          await store.flagSets.create({ app, document: doc(true), author: 'x', diff: [] });
          await store.flagSets.create({ app, document: doc(false), author: 'x', diff: [] });
          while (heard.length < 2) await new Promise<void>((r) => (wake = r));
          assert.deepEqual(heard, [`${app}@1`, `${app}@2`]);
        } finally {
          stop();
          await other.close();
        }
      });
    });

    describe('revision specs rewritten', () => {
      test('replaceSpecs rewrites all or nothing', async () => {
        const app = uniqueApp('reseal');
        await store.apps.upsert(app, {});
        const a = await store.revisions.create({ app, version: 'v1', spec: { secrets: { K: 'old-1' } } });
        const b = await store.revisions.create({ app, version: 'v2', spec: { secrets: { K: 'old-2' } } });
        await store.revisions.replaceSpecs([
          { app, number: a.number, spec: { secrets: { K: 'new-1' } } },
          { app, number: b.number, spec: { secrets: { K: 'new-2' } } },
        ]);
        assert.deepEqual((await store.revisions.get(app, a.number))?.spec, { secrets: { K: 'new-1' } });
        assert.deepEqual((await store.revisions.get(app, b.number))?.spec, { secrets: { K: 'new-2' } });
        await assert.rejects(
          store.revisions.replaceSpecs([
            { app, number: a.number, spec: { secrets: { K: 'newer-1' } } },
            { app, number: 99, spec: {} },
          ]),
          /no revision 99/,
        );
        assert.deepEqual((await store.revisions.get(app, a.number))?.spec, { secrets: { K: 'new-1' } });
      });
    });

    describe('tokens', () => {
      const token = (name: string, extra: Partial<NewToken> = {}): NewToken => ({
        id: randomBytes(8).toString('hex'),
        name,
        role: 'viewer',
        hash: randomBytes(32).toString('hex'),
        ...extra,
      });

      test('create round-trips; byHash finds it; list has it', async () => {
        const name = uniqueApp('tok');
        const input = token(name, { role: 'deployer', app: 'shop', expiresAt: 1_800_000_000_000 });
        const created = await store.tokens.create(input);
        assert.deepEqual(
          { ...created, createdAt: 0 },
          { ...input, app: 'shop', createdAt: 0, revokedAt: null, expiresAt: 1_800_000_000_000 },
        );
        assert.deepEqual(await store.tokens.byHash(input.hash), created);
        assert.equal(await store.tokens.byHash('f'.repeat(64)), undefined);
        assert.ok((await store.tokens.list()).some((t) => t.id === created.id));
      });

      test('a name belongs to one unrevoked token; revoke frees it', async () => {
        const name = uniqueApp('tok');
        const first = await store.tokens.create(token(name));
        await assert.rejects(store.tokens.create(token(name)), TokenNameTakenError);
        assert.equal(await store.tokens.revoke(name), true);
        assert.equal(await store.tokens.revoke(name), false);
        assert.ok((await store.tokens.byHash(first.hash))?.revokedAt);
        const second = await store.tokens.create(token(name));
        assert.equal(second.revokedAt, null);
      });
    });

    describe('audit', () => {
      const entry = (app: string, reason: string): NewAuditEntry => ({
        at: Date.now(),
        actor: 'ci',
        role: 'deployer',
        remote: '127.0.0.1',
        method: 'POST',
        route: '/api/v1/apps/:app/deploy',
        app,
        revision: null,
        outcome: 'allowed',
        status: 202,
        reason,
      });
      const hashOf = (e: NewAuditEntry) => (prev: string) =>
        createHash('sha256').update(prev).update(JSON.stringify(e)).digest('hex');

      test('entries chain: each holds the hash of the one before, even when appended at once', async () => {
        const app = uniqueApp('audit');
        const entries = Array.from({ length: 12 }, (_, i) => entry(app, `r${i}`));
        await Promise.all(entries.map((e) => store.audit.append(e, hashOf(e))));
        const all = await store.audit.list();
        for (let i = 1; i < all.length; i++) assert.equal(all[i]!.prevHash, all[i - 1]!.hash);
        const mine = await store.audit.list({ app });
        assert.equal(mine.length, 12);
        assert.deepEqual(mine.map((e) => e.reason).sort(), entries.map((e) => e.reason).sort());
        for (const e of mine) {
          const { id: _id, prevHash, hash, ...content } = e;
          assert.equal(hash, hashOf(content)(prevHash));
        }
        assert.equal((await store.audit.list({ app, afterId: mine[9]!.id })).length, 2);
        assert.equal((await store.audit.list({ app, limit: 3 })).length, 3);
        assert.equal((await store.audit.list({ app, sinceAt: Date.now() + 60_000 })).length, 0);
      });
    });

    describe('analysis series', () => {
      const point = (n: number) => ({ requests: n, errors5xx: 0, latency: [n, 0, 1], health: 'ok' });

      test('record adds and replaces seconds, load reads them by revision then second', async () => {
        const app = uniqueApp('series');
        await store.apps.upsert(app, {});
        const ro = await store.rollouts.create(rollout(app, `${app}-r`));
        await store.analysis.record(
          ro.id,
          [
            { revision: 2, second: 1_700_000_002, data: point(3) },
            { revision: 1, second: 1_700_000_001, data: point(1) },
            { revision: 2, second: 1_700_000_001, data: point(2) },
          ],
          0,
        );
        // Re-reading a second replaces it: the newest counts win.
        await store.analysis.record(ro.id, [{ revision: 2, second: 1_700_000_002, data: point(9) }], 0);
        assert.deepEqual(await store.analysis.load(ro.id), [
          { revision: 1, second: 1_700_000_001, data: point(1) },
          { revision: 2, second: 1_700_000_001, data: point(2) },
          { revision: 2, second: 1_700_000_002, data: point(9) },
        ]);
        assert.deepEqual(await store.analysis.load(`${app}-other`), []);
      });

      test('record keeps the series bounded: seconds before keepFrom go in the same write', async () => {
        const app = uniqueApp('series');
        await store.apps.upsert(app, {});
        const ro = await store.rollouts.create(rollout(app, `${app}-r`));
        const seconds = Array.from({ length: 1200 }, (_, i) => ({
          revision: 2,
          second: 1_700_000_000 + i,
          data: point(i),
        }));
        // More rows than one statement may bind: recorded in slices, all or nothing.
        await store.analysis.record(ro.id, seconds, 0);
        assert.equal((await store.analysis.load(ro.id)).length, 1200);
        await store.analysis.record(
          ro.id,
          [{ revision: 2, second: 1_700_001_200, data: point(1200) }],
          1_700_001_200 - 899,
        );
        const kept = await store.analysis.load(ro.id);
        assert.equal(kept.length, 900);
        assert.equal(kept[0]!.second, 1_700_001_200 - 899);
        assert.equal(kept.at(-1)!.second, 1_700_001_200);
      });

      test('drop forgets one revision or the whole rollout; an unknown rollout is refused', async () => {
        const app = uniqueApp('series');
        await store.apps.upsert(app, {});
        const ro = await store.rollouts.create(rollout(app, `${app}-r`));
        const other = await store.rollouts.update(ro.id, { phase: 'Completed' });
        const ro2 = await store.rollouts.create(rollout(app, `${app}-r2`));
        for (const id of [other.id, ro2.id])
          await store.analysis.record(
            id,
            [
              { revision: 1, second: 10, data: point(1) },
              { revision: 2, second: 10, data: point(2) },
            ],
            0,
          );
        await store.analysis.drop(ro2.id, 2);
        assert.deepEqual(
          (await store.analysis.load(ro2.id)).map((s) => s.revision),
          [1],
        );
        await store.analysis.drop(ro2.id);
        assert.deepEqual(await store.analysis.load(ro2.id), []);
        assert.equal((await store.analysis.load(other.id)).length, 2, 'another rollout keeps its own');
        await assert.rejects(
          store.analysis.record(`${app}-ghost`, [{ revision: 1, second: 1, data: point(1) }], 0),
          /unknown rollout/,
        );
      });
    });

    const UNDO_0009 = ['drop table leader', "delete from rewind_migration where name = '0009_leader'"];
    const UNDO_0008 = [
      'alter table apps drop column maintenance',
      "delete from rewind_migration where name = '0008_app_maintenance'",
    ];
    const UNDO_0007 = ['drop table drills', "delete from rewind_migration where name = '0007_drills'"];
    const UNDO_0006 = [
      'alter table flag_sets drop column warnings',
      "delete from rewind_migration where name = '0006_flag_set_warnings'",
    ];

    /** Runs SQL on the store's database behind its back (the store is closed): to rebuild an old schema. */
    async function rawSql(queries: readonly string[]): Promise<void> {
      if (harness?.url !== undefined) {
        const c = new pg.Client({ connectionString: harness.url });
        await c.connect();
        try {
          for (const q of queries) await c.query(q);
        } finally {
          await c.end();
        }
      } else {
        const raw = new DatabaseSync(join(harness?.dataDir ?? '', SQLITE_FILE_NAME));
        try {
          for (const q of queries) raw.exec(q);
        } finally {
          raw.close();
        }
      }
    }

    test('a database from before the analysis series is migrated and keeps its data', async () => {
      const app = uniqueApp('older');
      await store.apps.upsert(app, { v: 1 });
      const ro = await store.rollouts.create(rollout(app, `${app}-r1`));
      await store.close();
      // Back to the schema of 0004: no analysis_seconds table, no record of its migration, and no
      // later migration (recorded without 0005 it would be out of order).
      await rawSql([
        ...UNDO_0009,
        ...UNDO_0008,
        ...UNDO_0007,
        ...UNDO_0006,
        'drop table analysis_seconds',
        "delete from rewind_migration where name = '0005_analysis_seconds'",
      ]);
      store = await open(fakeClock(1_750_000_000_000));
      assert.deepEqual(await store.rollouts.get(ro.id), ro);
      await store.analysis.record(ro.id, [{ revision: 2, second: 5, data: { requests: 1 } }], 0);
      assert.deepEqual(await store.analysis.load(ro.id), [{ revision: 2, second: 5, data: { requests: 1 } }]);
    });

    test('flag-set versions from before 0006 are migrated with no warnings recorded', async () => {
      const app = uniqueApp('older-flags');
      await store.apps.upsert(app, {});
      const v1 = await store.flagSets.create({ app, document: { flags: {} }, author: 'ana', diff: [] });
      await store.close();
      await rawSql([...UNDO_0009, ...UNDO_0008, ...UNDO_0007, ...UNDO_0006]);
      store = await open(fakeClock(1_760_000_000_000));
      assert.deepEqual(await store.flagSets.get(app, 1), v1);
      const v2 = await store.flagSets.create({
        app,
        document: { flags: {} },
        author: 'bo',
        diff: [],
        warnings: [{ path: 'x', message: 'y' }],
      });
      assert.deepEqual(v2.warnings, [{ path: 'x', message: 'y' }]);
    });

    test('a database from before drills (0007) is migrated and keeps its data', async () => {
      const app = uniqueApp('older-drills');
      await store.apps.upsert(app, {});
      const inc = await store.incidents.create({
        id: `${app}-i1`,
        app,
        severity: 'P2',
        title: 't',
        data: {},
      });
      await store.close();
      await rawSql([...UNDO_0009, ...UNDO_0008, ...UNDO_0007]);
      store = await open(fakeClock(1_770_000_000_000));
      assert.deepEqual(await store.incidents.get(inc.id), inc);
      const drill = await store.drills.create({ id: `${app}-d1`, app, version: 'v1', report: { a: 1 } });
      assert.deepEqual(await store.drills.get(drill.id), drill);
    });

    test('a database from before maintenance mode (0008) is migrated and keeps its data, every app off', async () => {
      const app = uniqueApp('older-maintenance');
      await store.apps.upsert(app, { v: 1 });
      await store.apps.setStableRevision(app, 4);
      await store.close();
      await rawSql([...UNDO_0009, ...UNDO_0008]);
      store = await open(fakeClock(1_780_000_000_000));
      const record = await store.apps.get(app);
      assert.deepEqual([record?.spec, record?.stableRevision, record?.maintenance], [{ v: 1 }, 4, null]);
      await store.apps.setMaintenance(app, {
        since: 1,
        retryAfterSeconds: 60,
        page: null,
        reason: null,
        by: 'ops',
        source: 'manual',
        rolloutId: null,
      });
      assert.equal((await store.apps.get(app))?.maintenance?.by, 'ops');
    });

    test('data survives close and reopen; migrations are idempotent', async () => {
      const app = uniqueApp('durable');
      await store.apps.upsert(app, { keep: 'me' });
      await store.apps.setStableRevision(app, 1);
      const rev = await store.revisions.create({ app, version: 'v1', spec: awkwardJson });
      const ro = await store.rollouts.create(
        rollout(app, `${app}-r1`, { toRevision: 1, fromRevision: null }),
      );
      const ev = await store.events.append({
        app,
        rolloutId: ro.id,
        type: 'step.started',
        message: 'm',
        data: [1],
      });
      const inc = await store.incidents.create({
        id: `${app}-i1`,
        app,
        rolloutId: ro.id,
        severity: 'P2',
        title: 't',
        data: awkwardJson,
      });
      await store.close();
      await store.close(); // closing twice is harmless

      store = await open(fakeClock(1_800_000_000_000));
      assert.deepEqual((await store.apps.get(app))?.spec, { keep: 'me' });
      assert.equal((await store.apps.get(app))?.stableRevision, 1);
      assert.deepEqual(await store.revisions.get(app, 1), rev);
      assert.deepEqual(await store.rollouts.get(ro.id), ro);
      assert.deepEqual(await store.rollouts.active(app), ro);
      assert.deepEqual(await store.events.list({ app }), [ev]);
      assert.deepEqual(await store.incidents.get(inc.id), inc);
      // Numbering and the active-rollout rule carry on across the reopen.
      assert.equal((await store.revisions.create({ app, version: 'v2', spec: {} })).number, 2);
      await assert.rejects(store.rollouts.create(rollout(app, `${app}-r2`)), RolloutConflictError);
      const next = await store.events.append({ app, type: 'step.started', message: 'after reopen' });
      assert.ok(next.id > ev.id);
    });

    if (dialect.name === 'sqlite') {
      test('sqlite: file lives at <dataDir>/rewind.db in WAL mode with foreign keys', async () => {
        const file = join(harness?.dataDir ?? '', SQLITE_FILE_NAME);
        assert.ok(existsSync(file), `${file} exists`);
        const raw = new DatabaseSync(file, { readOnly: true });
        try {
          assert.equal(raw.prepare('pragma journal_mode').get()?.journal_mode, 'wal');
        } finally {
          raw.close();
        }
        // Foreign keys are enforced on the store's own connection.
        await assert.rejects(
          store.revisions.create({ app: uniqueApp('fk'), version: 'v', spec: {} }),
          /unknown app/,
        );
      });
    }
  });
}

describe('openStore options', () => {
  test('an unsupported URL names the value and the fix', async () => {
    await assert.rejects(
      openStore({ url: 'mysql://root:secret@db/rewind', dataDir: '/tmp/x' }),
      (err: Error) => {
        assert.match(err.message, /mysql:\/\/root:\*\*\*@db\/rewind/);
        assert.doesNotMatch(err.message, /secret/);
        assert.match(err.message, /postgres:\/\//);
        return true;
      },
    );
    await assert.rejects(openStore({ url: 'not a url' }), /"not a url".*postgres:\/\//);
  });

  test('a malformed postgres URL is rejected before connecting', async () => {
    await assert.rejects(openStore({ url: 'postgres://user:pw@host:notaport/db' }), /malformed database URL/);
  });

  test('no URL and no dataDir is an error that says what to pass', async () => {
    await assert.rejects(openStore({}), /dataDir/);
  });

  test('an unreachable PostgreSQL gives a clear error without the password', async () => {
    await assert.rejects(openStore({ url: 'postgres://rewind:hunter2@127.0.0.1:1/rewind' }), (err: Error) => {
      assert.match(
        err.message,
        /cannot open PostgreSQL at postgres:\/\/rewind:\*\*\*@127\.0\.0\.1:1\/rewind/,
      );
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    });
  });

  test('an empty URL falls back to SQLite in dataDir, creating the directory', async () => {
    const root = await mkdtemp(join(tmpdir(), 'rewind-store-'));
    try {
      const store = await openStore({ url: '', dataDir: join(root, 'nested', 'dir') });
      assert.equal(store.dialect, 'sqlite');
      await store.close();
      assert.ok(existsSync(join(root, 'nested', 'dir', SQLITE_FILE_NAME)));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
