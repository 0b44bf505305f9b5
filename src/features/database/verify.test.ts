// Verification against real databases: each check catches what it is for and names the table.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openTarget, TARGETS } from '../../../test/support/db-targets.ts';
import type { DatabaseEngine, TableStats } from './engines/types.ts';
import type { DatabaseEngineName } from './types.ts';
import { type DatabaseCheckName, verifyDatabase } from './verify.ts';

/** Lets a row reference a missing parent, the way a bulk load or a bad restore would. */
const UNCHECKED: Record<DatabaseEngineName, [string, string]> = {
  postgres: ['set session_replication_role = replica', 'set session_replication_role = origin'],
  mysql: ['set foreign_key_checks = 0', 'set foreign_key_checks = 1'],
  sqlite: ['select 1', 'select 1'], // enforcement is off on Rewind's SQLite connection
};

for (const engine of TARGETS) {
  describe(`verify: ${engine}`, () => {
    let db: DatabaseEngine;
    let cleanup: () => Promise<void>;
    let hash: string;
    let stats: Record<string, TableStats>;

    before(async () => {
      const t = await openTarget(engine);
      db = t.db;
      cleanup = t.cleanup;
      await db.exec('create table users (id integer primary key, name varchar(100))');
      await db.exec('create table orders (id integer primary key, user_id integer references users (id))');
      await db.exec('create table audit (id integer primary key, note varchar(100))');
      await db.exec("insert into users (id, name) values (1, 'ada'), (2, 'bob')");
      await db.exec('insert into orders (id, user_id) values (10, 1)');
      await db.exec("insert into audit (id, note) values (1, 'a'), (2, 'b')");
      hash = (await db.schemaFingerprint()).hash;
      stats = await db.tableStats(await db.listTables(), { checksumRowLimit: 1000 });
    });
    after(() => cleanup());

    const verdict = async (changedTables: string[] = [], expected: string | null = hash) => {
      const v = await verifyDatabase(db, {
        expectedFingerprint: expected,
        statsBefore: stats,
        changedTables,
      });
      const failed = v.checks.filter((c) => !c.ok);
      return {
        ok: v.ok,
        failed: failed.map((c) => c.name),
        detail: (name: DatabaseCheckName) => v.checks.find((c) => c.name === name)!.detail,
      };
    };

    test('an untouched database passes every check', async () => {
      const v = await verdict();
      assert.deepEqual(v.failed, []);
      assert.equal(v.ok, true);
      assert.match(v.detail('unchangedData'), /3 untouched table\(s\)/);
    });

    test('when the migrations changed every table, unchangedData makes no claim', async () => {
      const v = await verifyDatabase(db, {
        expectedFingerprint: hash,
        statsBefore: stats,
        changedTables: Object.keys(stats),
      });
      assert.deepEqual(
        v.checks.map((c) => c.name),
        ['fingerprint', 'foreignKeys'],
      );
      assert.equal(v.ok, true);
    });

    test('a changed row in a table no migration touched fails unchangedData, naming the table', async () => {
      await db.exec("update audit set note = 'tampered' where id = 2");
      try {
        const v = await verdict();
        assert.deepEqual(v.failed, ['unchangedData']);
        assert.match(v.detail('unchangedData'), /audit: same 2 rows but their content changed/);
        assert.deepEqual((await verdict(['AUDIT'])).failed, [], 'a table the migrations changed is left out');
        await db.exec('delete from audit where id = 2');
        assert.match((await verdict()).detail('unchangedData'), /audit: 2 rows before, 1 now/);
      } finally {
        await db.exec('delete from audit where id = 2');
        await db.exec("insert into audit (id, note) values (2, 'b')");
      }
      assert.deepEqual((await verdict()).failed, []);
    });

    test('an orphan row fails foreignKeys, naming the table and the parent', async () => {
      const [off, on] = UNCHECKED[engine];
      await db.exec(off);
      await db.exec('insert into orders (id, user_id) values (11, 42)');
      await db.exec(on);
      try {
        const v = await verdict(['orders']);
        assert.deepEqual(v.failed, ['foreignKeys']);
        assert.match(v.detail('foreignKeys'), /orders \(.+ -> users\): 1 orphan row\(s\)/);
      } finally {
        await db.exec('delete from orders where id = 11');
      }
    });

    test('a schema that differs from the recorded fingerprint fails; none recorded is "not checked", never passed', async () => {
      await db.exec('create index audit_note on audit (note)');
      try {
        const v = await verdict();
        assert.deepEqual(v.failed, ['fingerprint']);
        assert.match(v.detail('fingerprint'), new RegExp(`differs from the recorded ${hash.slice(0, 12)}`));
        const none = await verdict([], null);
        assert.deepEqual(none.failed, ['fingerprint'], 'a check that did not run does not count as passed');
        assert.match(none.detail('fingerprint'), /was not compared/);
        const noStats = await verifyDatabase(db, {
          expectedFingerprint: null,
          statsBefore: null,
          changedTables: ['orders'],
        });
        assert.deepEqual(
          noStats.checks.map((c) => `${c.name} ${c.status}`),
          ['fingerprint not checked', 'unchangedData not checked', 'foreignKeys passed'],
        );
        assert.equal(noStats.ok, false);
      } finally {
        await db.exec(engine === 'mysql' ? 'drop index audit_note on audit' : 'drop index audit_note');
      }
    });
  });
}
