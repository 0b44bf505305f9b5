// DatabaseService on real databases: what a deploy is refused for before anything changes, and
// an expand + undo + verify round trip on every engine, as the rollout steps run them.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createTarget, TARGETS, type TestTarget } from '../../../test/support/db-targets.ts';
import { appSpecSchema } from '../../spec/app-spec.ts';
import type { AppContext } from '../rollouts/app-context.ts';
import { DatabaseService } from './database-service.ts';
import { openDatabase } from './engines/registry.ts';
import type { DatabaseEngineName } from './types.ts';

const base = mkdtempSync(join(tmpdir(), 'rewind-dbsvc-'));
after(() => rmSync(base, { recursive: true, force: true }));

function context(
  engine: DatabaseEngineName,
  url: string,
  files: Record<string, Record<string, string>>,
  database: object = {},
): AppContext {
  const dir = mkdtempSync(join(base, 'app-'));
  for (const [version, migrations] of Object.entries(files)) {
    mkdirSync(join(dir, version), { recursive: true });
    for (const [name, sql] of Object.entries(migrations)) writeFileSync(join(dir, version, name), sql);
  }
  const spec = appSpecSchema.parse({
    name: 'svc',
    listen: '127.0.0.1:1',
    run: { command: 'true' },
    database: { engine, url, migrations: './${version}', lockTimeout: '1s', retries: 0, ...database },
  });
  return { spec, baseDir: dir, lastTableKey: null, retiring: new Map() };
}

const V1 = {
  '0001_items.up.sql':
    'create table items (id integer primary key, name varchar(50) not null, legacy varchar(10));',
  '0001_items.down.sql': 'drop table items;',
  '0002_seed.up.sql': "insert into items (id, name, legacy) values (1, 'kettle', 'k'), (2, 'teapot', 't');",
  '0002_seed.down.sql': 'delete from items where id in (1, 2);',
};
const V2 = {
  ...V1,
  '0003_add_note.up.sql':
    'alter table items add column note varchar(100);\ncreate table tags (id integer primary key, item_id integer);',
  '0003_add_note.down.sql': 'drop table tags;\nalter table items drop column note;',
};

test('a deploy is refused up front: a missing down, a contract without backup, a missing folder', async () => {
  const svc = new DatabaseService();
  const url = join(base, 'refused.db');
  const ctx = context('sqlite', url, {
    nodown: { '0001_a.up.sql': 'create table a (id integer);' },
    drop: {
      ...V1,
      '0003_drop.up.sql': '-- rewind:phase contract\nalter table items drop column legacy;',
      '0003_drop.down.sql': 'alter table items add column legacy varchar(10);',
    },
  });
  await assert.rejects(svc.prepare(ctx, 'nodown'), /RW301 missing-down .*0001_a\.up\.sql/);
  await assert.rejects(svc.prepare(ctx, 'missing'), /does not exist/);
  assert.equal(await svc.prepare(ctx, 'drop'), 3, 'with backups on, a contract migration is fine');
  const noBackup = context(
    'sqlite',
    url,
    {
      drop: {
        ...V1,
        '0003_drop.up.sql': 'alter table items drop column legacy;',
        '0003_drop.down.sql': 'alter table items add column legacy varchar(10);',
      },
    },
    { backup: false },
  );
  await assert.rejects(
    svc.prepare(noBackup, 'drop'),
    /0003_drop is a contract \(destructive\) migration .*database\.backup: false/,
  );
});

for (const engine of TARGETS) {
  describe(`DatabaseService on ${engine}`, () => {
    let target: TestTarget;
    after(() => target?.cleanup());

    test('expand, undo to the earlier level, verify: as before, data untouched', async () => {
      target = await createTarget(engine);
      const svc = new DatabaseService();
      const ctx = context(engine, target.url, { v1: V1, v2: V2 });
      const v1 = await svc.migrate(ctx, { number: 1, version: 'v1', migrationLevel: 2 }, 'all');
      assert.ok(v1.ok, !v1.ok ? v1.reason : '');
      const expand = await svc.expand(ctx, { number: 2, version: 'v2', migrationLevel: 3 }, 'r2');
      assert.ok(expand.ok && expand.levelBefore === 2 && expand.levelAfter === 3, JSON.stringify(expand));
      const plan = await svc.plan(ctx, 'v2');
      assert.deepEqual(
        plan.entries.map((e) => e.state),
        ['applied', 'applied', 'applied'],
      );
      const undo = await svc.undo(ctx, 2, 'all', 'r2');
      assert.ok(undo.ok && undo.levelAfter === 2, JSON.stringify(undo));
      const checks = await svc.verify(ctx, 2);
      // The undone migration changed items, the only table: no untouched table to compare, no claim.
      assert.deepEqual(
        checks.map((c) => `${c.name} ${c.passed}`),
        ['database schema fingerprint true', 'database foreign keys true'],
        JSON.stringify(checks),
      );
      assert.equal((await svc.plan(ctx, 'v2')).currentLevel, 2);
    });
  });
}

// Issue 11 (3): two controllers on one database. A applied 0003 for its good deploy; B's bad
// deploy of the same version found nothing pending. B's rollback must not undo A's migration.
for (const engine of TARGETS) {
  test(`${engine}: a rollback undoes only what its own rollout (or controller) applied, and says why it left the rest`, async () => {
    const t = await createTarget(engine);
    try {
      const a = new DatabaseService({ controllerId: 'controller-a' });
      const b = new DatabaseService({ controllerId: 'controller-b' });
      const ctx = context(engine, t.url, { v1: V1, v2: V2 });
      assert.ok((await a.migrate(ctx, { number: 1, version: 'v1', migrationLevel: 2 }, 'all')).ok);
      const byA = await a.expand(ctx, { number: 2, version: 'v2', migrationLevel: 3 }, 'rollout-a');
      assert.ok(byA.ok && byA.levelBefore === 2 && byA.levelAfter === 3, JSON.stringify(byA));
      const byB = await b.expand(ctx, { number: 7, version: 'v2', migrationLevel: 3 }, 'rollout-b');
      assert.ok(byB.ok && byB.levelBefore === 3, JSON.stringify(byB));

      // B's failed deploy compensates from level 2 (what it would have read before the lock).
      const undoB = await b.undo(ctx, 2, 'all', 'rollout-b', 'rollout');
      assert.ok(undoB.ok, JSON.stringify(undoB));
      assert.equal(undoB.levelAfter, 3, 'A still needs 0003');
      assert.match(
        undoB.detail,
        /left applied: 0003_add_note \(applied by rollout rollout-a of controller controller-a for revision 2, not by this rollout/,
      );
      // A rollback to an older revision by controller B leaves controller A's migration too.
      const rollbackB = await b.undo(ctx, 2, 'all', 'rollback-b', 'controller');
      assert.ok(rollbackB.ok && rollbackB.levelAfter === 3, JSON.stringify(rollbackB));
      assert.match(rollbackB.detail, /not by this controller \(controller-b\)/);
      // A's own rollback takes it back.
      const undoA = await a.undo(ctx, 2, 'all', 'rollout-a', 'rollout');
      assert.ok(undoA.ok && undoA.levelAfter === 2, JSON.stringify(undoA));
      const ledger = await a.plan(ctx, 'v2');
      assert.equal(ledger.currentLevel, 2);
    } finally {
      await t.cleanup();
    }
  });
}

// Issue 11 (1): a contract DROP COLUMN rolled back brings the column back empty, and `db restore`
// deleted the rows written since and re-added a column an expand rollback had removed.
const V3 = {
  ...V1,
  '0003_add_region.up.sql': 'alter table items add column region varchar(20);',
  '0003_add_region.down.sql': 'alter table items drop column region;',
  '0004_drop_legacy.up.sql': '-- rewind:phase contract\nalter table items drop column legacy;',
  '0004_drop_legacy.down.sql': 'alter table items add column legacy varchar(10);',
};
for (const engine of TARGETS) {
  test(`${engine}: a contract rollback merges the dropped column's values back; db restore keeps rows written since and the current level`, async () => {
    const t = await createTarget(engine);
    try {
      const svc = new DatabaseService();
      const ctx = context(engine, t.url, { v1: V1, v3: V3 });
      assert.ok((await svc.migrate(ctx, { number: 1, version: 'v1', migrationLevel: 2 }, 'all')).ok);
      const rev3 = { number: 3, version: 'v3', migrationLevel: 4 };
      assert.ok((await svc.expand(ctx, rev3, 'r3')).ok);
      const contract = await svc.contract(ctx, rev3, 'r3');
      assert.ok(contract.ok, JSON.stringify(contract));
      // The app at v3 writes: a new item, a renamed one.
      const db = await openDatabase(engine, t.url);
      const items = () => db.query('select id, name, legacy from items order by id');
      try {
        await db.exec("insert into items (id, name, region) values (3, 'mug', 'eu')");
        await db.exec("update items set name = 'kettle2' where id = 1");

        const undo = await svc.undo(ctx, 2, 'all', 'rollback-4');
        assert.ok(undo.ok, JSON.stringify(undo));
        assert.match(undo.detail, /merged back from bk_\w+: items: 2 row\(s\) got legacy back/);
        assert.deepEqual(await items(), [
          { id: 1, name: 'kettle2', legacy: 'k' },
          { id: 2, name: 'teapot', legacy: 't' },
          { id: 3, name: 'mug', legacy: null },
        ]);
        const checks = await svc.verify(ctx, 2);
        assert.ok(
          checks.every((c) => c.passed),
          JSON.stringify(checks),
        );

        // db restore merges again: nothing deleted, region (rolled back) not re-added.
        const restored = await svc.restore(ctx, 3);
        assert.equal(restored.length, 1);
        assert.deepEqual(await items(), [
          { id: 1, name: 'kettle2', legacy: 'k' },
          { id: 2, name: 'teapot', legacy: 't' },
          { id: 3, name: 'mug', legacy: null },
        ]);
        assert.equal((await db.describeTables(['items'])).items!.columns.includes('region'), false);
        assert.ok((await svc.verify(ctx, 2)).every((c) => c.passed));
        // Overwrite shows what it would delete and changes nothing without confirmation.
        const preview = await svc.restore(ctx, 3, { overwrite: true, dryRun: true });
        assert.deepEqual(preview[0]!.tables[0]!.deletedSample, [{ id: 3 }]);
        assert.equal((await items()).length, 3);
        // The next deploy works: region can be added again.
        assert.ok((await svc.expand(ctx, { number: 5, version: 'v3', migrationLevel: 3 }, 'r5')).ok);
      } finally {
        await db.close();
      }
    } finally {
      await t.cleanup();
    }
  });
}
