// The round trip against real databases: a correct pair passes; a down that forgets an index, a
// default, a constraint or a column type fails naming it; a down with a syntax error fails with
// its file and line; the app's own database is untouched and the scratch is gone afterwards.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import {
  MYSQL_ADMIN_URL,
  openTarget,
  POSTGRES_ADMIN_URL,
  TARGETS,
} from '../../../test/support/db-targets.ts';
import { openDatabase } from './engines/registry.ts';
import type { DatabaseEngine } from './engines/types.ts';
import { loadMigrations } from './migration-files.ts';
import { createMigrator } from './migrator.ts';
import { type RoundTripReport, roundTrip } from './roundtrip.ts';
import type { DatabaseEngineName } from './types.ts';

const BASE = `create table users (id integer primary key, name varchar(100) not null, status varchar(20) default 'active');
create table orders (id integer primary key, user_id integer not null, total integer not null);
create view big_orders as select id, total from orders where total > 100`;

/** SQLite changes a default, a type or a CHECK only by rebuilding the table (its documented way). */
const rebuild = (columns: string) => `create table users_new (${columns});
insert into users_new (id, name, status) select id, name, status from users;
drop table users;
alter table users_new rename to users`;
const LITE_USERS = "id integer primary key, name varchar(100) not null, status varchar(20) default 'active'";

type Case = 'correct' | 'index' | 'default' | 'constraint' | 'type';
type Pair = [up: string, down: string];

const ADD_EMAIL =
  'alter table users add column email varchar(200);\ncreate index users_email on users (email)';
/** The up adds a column and an index on another one; the down drops only the column. */
const FORGETS_INDEX: Pair = [
  'alter table users add column email varchar(200);\ncreate index users_name on users (name)',
  'alter table users drop column email',
];
/** PostgreSQL and MariaDB share these; only the type change is spelt differently. */
const SERVER: Omit<Record<Case, Pair>, 'correct' | 'type'> = {
  index: FORGETS_INDEX,
  default: [
    "alter table users alter column status set default 'new'",
    'alter table users alter column status drop default',
  ],
  constraint: [
    'alter table users add column age integer;\nalter table orders add constraint orders_total_positive check (total > 0)',
    'alter table users drop column age',
  ],
};
const PAIRS: Record<DatabaseEngineName, Record<Case, Pair>> = {
  postgres: {
    ...SERVER,
    correct: [ADD_EMAIL, 'drop index users_email;\nalter table users drop column email'],
    type: [
      'alter table users alter column name type varchar(200)',
      'alter table users alter column name type text',
    ],
  },
  mysql: {
    ...SERVER,
    correct: [ADD_EMAIL, 'drop index users_email on users;\nalter table users drop column email'],
    type: [
      'alter table users modify name varchar(200) not null',
      'alter table users modify name varchar(150) not null',
    ],
  },
  sqlite: {
    correct: [ADD_EMAIL, 'drop index users_email;\nalter table users drop column email'],
    index: FORGETS_INDEX,
    default: [
      rebuild("id integer primary key, name varchar(100) not null, status varchar(20) default 'new'"),
      rebuild('id integer primary key, name varchar(100) not null, status varchar(20)'),
    ],
    constraint: [
      rebuild(`${LITE_USERS}, check (length(name) > 0)`),
      'alter table users rename column name to name_tmp;\nalter table users rename column name_tmp to name',
    ],
    type: [
      rebuild("id integer primary key, name varchar(200) not null, status varchar(20) default 'active'"),
      rebuild("id integer primary key, name text not null, status varchar(20) default 'active'"),
    ],
  },
};

/** What each forgetful down must be reported as: the object, its name and the change. */
const EXPECTED: Record<Exclude<Case, 'correct'>, Record<DatabaseEngineName, RegExp>> = {
  index: {
    postgres: /^index users_name on users: still there: the down did not remove it/,
    mysql: /^index users_name on users: still there/,
    sqlite: /^index users_name on users: still there/,
  },
  default: {
    postgres: /^column users\.status: default is none, expected 'active'::character varying/,
    mysql: /^column users\.status: default is (none|NULL), expected 'active'/,
    sqlite: /^column users\.status: default is none, expected 'active'/,
  },
  constraint: {
    postgres: /^constraint orders_total_positive on orders: still there/,
    mysql: /^constraint orders_total_positive on orders: still there/,
    sqlite: /^constraint check \(length\(name\) > 0\) on users: still there/,
  },
  type: {
    postgres: /^column users\.name: type is text, expected character varying\(100\)/,
    mysql: /^column users\.name: type is varchar\(150\), expected varchar\(100\)/,
    sqlite: /^column users\.name: type is TEXT, expected varchar\(100\)/,
  },
};

async function scratchExists(engine: DatabaseEngineName, name: string): Promise<boolean> {
  if (engine === 'sqlite') return existsSync(name);
  if (engine === 'postgres') {
    const c = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await c.connect();
    try {
      return (await c.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1;
    } finally {
      await c.end();
    }
  }
  const c = await mysql.createConnection({ uri: MYSQL_ADMIN_URL });
  try {
    const [rows] = await c.query('select 1 from information_schema.schemata where schema_name = ?', [name]);
    return (rows as unknown[]).length === 1;
  } finally {
    await c.end();
  }
}

for (const engine of TARGETS) {
  describe(`db roundtrip: ${engine}`, () => {
    let db: DatabaseEngine;
    let url: string;
    let cleanup: () => Promise<void>;
    let dir: string;
    let fingerprint: string;
    let stats: unknown;
    let ledger: unknown;
    const scratches: string[] = [];

    /** A migrations folder with the applied base and one pending pair, round-tripped. */
    const run = async (name: string, up: string, down: string): Promise<RoundTripReport> => {
      const folder = await mkdtemp(join(dir, `${name}-`));
      await writeFile(join(folder, '0001_base.up.sql'), BASE);
      await writeFile(
        join(folder, '0001_base.down.sql'),
        'drop view big_orders;\ndrop table orders;\ndrop table users',
      );
      await writeFile(join(folder, `0002_${name}.up.sql`), up);
      await writeFile(join(folder, `0002_${name}.down.sql`), down);
      const report = await roundTrip({
        app: 'shop',
        engine,
        url,
        migrations: await loadMigrations(folder, engine),
      });
      scratches.push(report.scratch);
      return report;
    };

    const appState = async () => ({
      fingerprint: (await db.schemaFingerprint()).hash,
      stats: await db.tableStats(await db.listTables(), { checksumRowLimit: 1000 }),
      ledger: await db.query('select * from rewind_migrations order by migration_key'),
    });

    before(async () => {
      const t = await openTarget(engine);
      db = t.db;
      url = t.target.url;
      cleanup = t.cleanup;
      dir = await mkdtemp(join(tmpdir(), 'rewind-roundtrip-'));
      // The app is at level 1: the base migration applied through Rewind, rows in its tables.
      const folder = await mkdtemp(join(dir, 'applied-'));
      await writeFile(join(folder, '0001_base.up.sql'), BASE);
      await writeFile(
        join(folder, '0001_base.down.sql'),
        'drop view big_orders;\ndrop table orders;\ndrop table users',
      );
      const applied = await createMigrator(db, { app: 'shop' }).migrateUp(
        await loadMigrations(folder, engine),
      );
      assert.equal(applied.error, undefined, applied.error?.message);
      await db.exec("insert into users (id, name) values (1, 'ada'), (2, 'bob')");
      await db.exec('insert into orders (id, user_id, total) values (10, 1, 5)');
      ({ fingerprint, stats, ledger } = await appState());
    });
    after(async () => {
      await cleanup();
      await rm(dir, { recursive: true, force: true });
    });

    test('a down that undoes its up exactly passes; only the pending migration is round-tripped', async () => {
      const [up, down] = PAIRS[engine].correct;
      const r = await run('add_email', up, down);
      assert.equal(r.passed, true, JSON.stringify(r.migrations, null, 2));
      assert.equal(r.levelBefore, 1, 'the ledger rows came along: 0001 is applied, not pending');
      assert.deepEqual(
        r.migrations.map((m) => [m.key, m.status]),
        [['0002_add_email', 'passed']],
      );
      assert.equal(r.cleanup, null);
    });

    for (const what of ['index', 'default', 'constraint', 'type'] as const) {
      test(`a down that forgets ${what === 'type' ? 'a column type' : `a ${what}`} fails naming it`, async () => {
        const [up, down] = PAIRS[engine][what];
        const r = await run(`forgets_${what}`, up, down);
        assert.equal(r.passed, false);
        const [m] = r.migrations;
        assert.equal(m?.status, 'failed');
        // The down ran; the redo may then trip over what it left behind, which is reported too.
        assert.ok(!m?.failure || m.failure.stage === 'redo', JSON.stringify(m?.failure));
        const messages = m!.downDifferences.map((d) => d.message);
        assert.ok(
          messages.some((msg) => EXPECTED[what][engine].test(msg)),
          `expected ${EXPECTED[what][engine]} among:\n${messages.join('\n')}`,
        );
      });
    }

    test('a down with a syntax error fails with its statement, file and line', async () => {
      const down = `-- undo add_email\n\n${engine === 'mysql' ? 'drop index users_email on users' : 'drop index users_email'};\nalter table users drop colum email`;
      const r = await run('bad_down', PAIRS[engine].correct[0], down);
      const [m] = r.migrations;
      assert.equal(m?.status, 'failed');
      assert.equal(m?.failure?.stage, 'down');
      assert.match(m!.failure!.location ?? '', /0002_bad_down\.down\.sql:4$/);
      assert.equal(m!.failure!.statement, 'alter table users drop colum email');
      assert.equal(r.passed, false);
    });

    test("the app's own database is never touched and every scratch is gone", async () => {
      assert.deepEqual(await appState(), { fingerprint, stats, ledger });
      assert.ok(scratches.length >= 6);
      for (const name of scratches) assert.equal(await scratchExists(engine, name), false, `${name} dropped`);
    });
  });
}

test('a SQLite app whose file does not exist yet round-trips from an empty schema, and its path stays empty', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rewind-roundtrip-empty-'));
  try {
    const folder = join(dir, 'migrations');
    await mkdir(folder);
    await writeFile(join(folder, '0001_base.up.sql'), BASE);
    await writeFile(
      join(folder, '0001_base.down.sql'),
      'drop view big_orders;\ndrop table orders;\ndrop table users',
    );
    const app = join(dir, 'data', 'shop.db');
    const r = await roundTrip({
      app: 'shop',
      engine: 'sqlite',
      url: app,
      migrations: await loadMigrations(folder, 'sqlite'),
    });
    assert.equal(r.passed, true, JSON.stringify(r.migrations));
    assert.deepEqual(
      r.migrations.map((m) => m.key),
      ['0001_base'],
    );
    assert.match(r.copiedWith, /an empty file/);
    assert.equal(existsSync(app), false, "the app's database file was not created");
    assert.equal(existsSync(r.scratch), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a pending migration numbered below the level is applied first without a round trip; the ones above still round-trip alone', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rewind-roundtrip-order-'));
  try {
    const file = (name: string, sql: string) => writeFile(join(dir, name), sql);
    await file('0001_users.up.sql', 'create table users (id integer primary key)');
    await file('0001_users.down.sql', 'drop table users');
    await file('0003_orders.up.sql', 'create table orders (id integer primary key)');
    await file('0003_orders.down.sql', 'drop table orders');
    const app = join(dir, 'app.db');
    const db = await openDatabase('sqlite', app);
    const applied = await createMigrator(db, { app: 'shop' }).migrateUp(await loadMigrations(dir, 'sqlite'));
    await db.close();
    assert.equal(applied.error, undefined);
    // Merged late from another branch: 0002 is pending below level 3; 0004 is new.
    await file('0002_late.up.sql', 'create table late (id integer primary key)');
    await file('0002_late.down.sql', 'drop table late');
    await file('0004_email.up.sql', 'alter table users add column email text');
    await file('0004_email.down.sql', 'alter table users drop column email');
    const r = await roundTrip({
      app: 'shop',
      engine: 'sqlite',
      url: app,
      migrations: await loadMigrations(dir, 'sqlite'),
    });
    assert.deepEqual(
      r.migrations.map((m) => `${m.key} ${m.status}`),
      ['0002_late skipped', '0004_email passed'],
    );
    assert.match(r.migrations[0]!.note ?? '', /numbered below the level 3.*Renumber it above 3/);
    assert.equal(r.passed, true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** Objects beyond tables that the scratch copy must carry over for its fingerprint to match. */
const RICH: Partial<Record<DatabaseEngineName, string[]>> = {
  postgres: [
    'create table parents (id integer primary key)',
    'create table children (id serial primary key, parent_id integer references parents (id) on delete cascade, note text)',
    "create type mood as enum ('ok', 'sad')",
    'create function touch() returns trigger language plpgsql as $$ begin new.note := lower(new.note); return new; end $$',
    'create trigger children_touch before insert on children for each row execute function touch()',
    'create view parent_counts as select p.id, count(c.id) as n from parents p left join children c on c.parent_id = p.id group by p.id',
  ],
  mysql: [
    'create table parents (id integer primary key)',
    'create table children (id integer auto_increment primary key, parent_id integer, note text, constraint children_parent foreign key (parent_id) references parents (id) on delete cascade)',
    'create trigger children_touch before insert on children for each row set new.note = lower(new.note)',
    'create function twice(x integer) returns integer deterministic return x * 2',
    'create view parent_counts as select p.id, count(c.id) as n from parents p left join children c on c.parent_id = p.id group by p.id',
  ],
};

for (const engine of ['postgres', 'mysql'] as const) {
  test(`${engine}: the scratch copy carries foreign keys, triggers, functions, types and views (else the round trip refuses)`, async () => {
    const t = await openTarget(engine);
    const dir = await mkdtemp(join(tmpdir(), 'rewind-roundtrip-rich-'));
    try {
      for (const sql of RICH[engine]!) await t.db.exec(sql);
      await writeFile(join(dir, '0001_note.up.sql'), 'create table notes (id integer primary key)');
      await writeFile(join(dir, '0001_note.down.sql'), 'drop table notes');
      const r = await roundTrip({
        app: 'shop',
        engine,
        url: t.target.url,
        migrations: await loadMigrations(dir, engine),
      });
      assert.equal(r.passed, true, JSON.stringify(r));
      assert.deepEqual(
        r.migrations.map((m) => `${m.key} ${m.status}`),
        ['0001_note passed'],
      );
    } finally {
      await t.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  });
}
