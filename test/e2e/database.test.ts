// Story: the shop's PostgreSQL schema rolls out and back with its revisions. Expand migrations
// run before the new revision starts; contract ones after the bake, behind a backup; a rolled-back
// revision takes its expand migrations with it, and the incident says the schema was verified.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { createTarget, type TestTarget } from '../support/db-targets.ts';
import { type Harness, shopConfig, startLoad, startRewind, waitFor } from '../support/rewind-harness.ts';

let h: Harness;
let target: TestTarget;

const MIGRATIONS: Record<string, Record<string, string>> = {
  v1: {
    '0001_create_orders.up.sql':
      "create table orders (id serial primary key, item text not null, legacy_code text);\ninsert into orders (item, legacy_code) values ('kettle', 'K1'), ('teapot', 'T1');",
    '0001_create_orders.down.sql': 'drop table orders;',
    '0002_create_customers.up.sql':
      "create table customers (id serial primary key, name text not null);\ninsert into customers (name) values ('ana');",
    '0002_create_customers.down.sql': 'drop table customers;',
  },
  v2: {
    '0003_add_email.up.sql': 'alter table customers add column email text;',
    '0003_add_email.down.sql': 'alter table customers drop column email;',
    '0004_orders_item_index.up.sql': 'create index concurrently orders_item on orders (item);',
    '0004_orders_item_index.down.sql': 'drop index concurrently orders_item;',
  },
  v3: {
    '0005_drop_legacy_code.up.sql': '-- rewind:phase contract\nalter table orders drop column legacy_code;',
    '0005_drop_legacy_code.down.sql': 'alter table orders add column legacy_code text;',
  },
  bad: {
    '0003_add_email.up.sql':
      'alter table customers add column email text;\nalter tabel customers add column phone text;',
    '0003_add_email.down.sql':
      'alter table customers drop column phone;\nalter table customers drop column email;',
  },
  nodown: {
    '0003_add_email.up.sql': 'alter table customers add column email text;',
  },
};

/** releases/<version>/migrations: each version has its predecessors' migrations and its own. */
function writeReleases(dir: string) {
  const chain: Record<string, string[]> = {
    v1: ['v1'],
    v2: ['v1', 'v2'],
    v2b: ['v1', 'v2'],
    v3: ['v1', 'v2', 'v3'],
    v4: ['v1', 'bad'],
    v5: ['v1', 'nodown'],
  };
  for (const [version, parts] of Object.entries(chain)) {
    const folder = join(dir, 'releases', version, 'migrations');
    mkdirSync(folder, { recursive: true });
    for (const part of parts)
      for (const [file, sql] of Object.entries(MIGRATIONS[part]!))
        writeFileSync(join(folder, file), `${sql}\n`);
  }
}

async function query<T>(sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: target.url });
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}
const columns = async (table: string) =>
  (
    await query<{ column_name: string }>(
      `select column_name from information_schema.columns where table_name = '${table}' order by 1`,
    )
  ).map((r) => r.column_name);

before(async () => {
  target = await createTarget('postgres');
  h = await startRewind({
    config: (port) => `${shopConfig(port, { bake: '3s', checks: false })}    initialVersion: v1
    database:
      engine: postgres
      urlEnv: SHOP_DATABASE_URL
      migrations: ./releases/\${version}/migrations
      lockTimeout: 1s
      retries: 1
    analysis:
      interval: 1s
      rules:
        - { name: errors, metric: errorRate, above: 5%, for: 1s, minSample: 20, severity: P0 }
`,
    env: { SHOP_DATABASE_URL: target.url },
    setup: writeReleases,
  });
  await waitFor('v1 serving', async () => (await fetch(h.appUrl).catch(() => null))?.ok);
  await waitFor('v1 migrated', async () => (await columns('customers').catch(() => [])).length > 0);
});
after(async () => {
  await h?.close();
  await target?.cleanup();
});

test('the first deploy brings the schema to its level; status and lint say so', async () => {
  assert.deepEqual(await columns('customers'), ['id', 'name']);
  const status = JSON.parse((await h.cli('db', 'status', 'shop', '--json')).stdout);
  assert.equal(status.currentLevel, 2);
  assert.deepEqual(
    status.entries.map((e: { state: string }) => e.state),
    ['applied', 'applied'],
  );
  const lint = await h.cli('db', 'lint', 'shop', '--version', 'v3', '--json');
  assert.equal(lint.code, 0, lint.stdout + lint.stderr);
  const phases = JSON.parse(lint.stdout).migrations.map(
    (m: { migration: string; effectivePhase: string }) => `${m.migration} ${m.effectivePhase}`,
  );
  assert.ok(phases.includes('0003_add_email expand'));
  assert.ok(phases.includes('0005_drop_legacy_code contract'));
  // Through the server: v3's pending migrations (a concurrent index among them) round-trip on a
  // scratch copy; v4's up with a typo fails with its file and line. The app's schema stays.
  const rt = await h.cli('db', 'roundtrip', 'shop', '--version', 'v3', '--json');
  assert.equal(rt.code, 0, rt.stdout + rt.stderr);
  assert.deepEqual(
    JSON.parse(rt.stdout).migrations.map((m: { key: string; status: string }) => `${m.key} ${m.status}`),
    ['0003_add_email passed', '0004_orders_item_index passed', '0005_drop_legacy_code passed'],
  );
  const bad = await h.cli('db', 'roundtrip', 'shop', '--version', 'v4');
  assert.equal(bad.code, 1, bad.stdout + bad.stderr);
  assert.match(bad.stdout, /^FAIL {2}0003_add_email /m);
  assert.match(bad.stdout, /the up failed: .*releases\/v4\/migrations\/0003_add_email\.up\.sql:2/);
  assert.deepEqual(await columns('customers'), ['id', 'name']);
  const plan = JSON.parse((await h.cli('db', 'plan', 'shop', '--version', 'v3', '--json')).stdout);
  assert.deepEqual(
    plan.entries
      .filter((e: { state: string }) => e.state === 'pending')
      .map((e: { key: string; when: string }) => `${e.key} ${e.when}`),
    [
      '0003_add_email before traffic',
      '0004_orders_item_index before traffic',
      '0005_drop_legacy_code after bake',
    ],
  );
});

test('a bad revision is rolled back with its expand migrations, and the incident verifies the schema', async () => {
  const rowsBefore = await query('select * from orders order by id');
  const load = startLoad(h.appUrl, 4);
  const deploy = await h.cli(
    'deploy',
    'shop',
    '--version',
    'v2',
    '--env',
    'SHOP_ERROR_RATE=0.5',
    '--wait',
    '--json',
  );
  await load.stop();
  assert.equal(deploy.code, 2, deploy.stdout + deploy.stderr);
  assert.deepEqual(await columns('customers'), ['id', 'name'], 'email column undone');
  assert.equal(
    (await query("select 1 from pg_indexes where indexname = 'orders_item'")).length,
    0,
    'index undone',
  );
  assert.deepEqual(await query('select * from orders order by id'), rowsBefore);
  const incidents = JSON.parse((await h.cli('incidents', '--app', 'shop', '--json')).stdout);
  const incident = await waitFor('verified incident', async () => {
    const i = JSON.parse((await h.cli('incidents', 'show', incidents[0].id, '--format', 'json')).stdout);
    return i.verification ? i : undefined;
  });
  const names = incident.verification.checks.map(
    (c: { name: string; passed: boolean }) => `${c.name} ${c.passed}`,
  );
  assert.ok(names.includes('database schema fingerprint true'), names.join('; '));
  // v2 changed both tables (a column, an index): no untouched table to compare, so no data claim
  // (the rows of orders are compared above).
  assert.ok(!names.some((n: string) => n.startsWith('database data unchanged')), names.join('; '));
  assert.ok(names.includes('database foreign keys true'), names.join('; '));
});

test('a good revision keeps its expand migrations; the contract runs after the bake behind a backup; rollback undoes it', async () => {
  const ok = await h.cli('deploy', 'shop', '--version', 'v2b', '--wait');
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.deepEqual(await columns('customers'), ['email', 'id', 'name']);
  const v3 = await h.cli('deploy', 'shop', '--version', 'v3', '--wait', '--json');
  assert.equal(v3.code, 0, v3.stdout + v3.stderr);
  const v3Revision = JSON.parse(v3.stdout).toRevision;
  assert.deepEqual(await columns('orders'), ['id', 'item']);
  const backups = JSON.parse((await h.cli('db', 'backups', 'shop', '--json')).stdout);
  assert.equal(backups[0].migrationKey, '0005_drop_legacy_code');
  assert.deepEqual(backups[0].tables, ['orders']);
  // Back to v2: the contract is undone before traffic moves (v2 may read legacy_code)...
  const back = await h.cli('rollback', 'shop', '--json');
  assert.equal(back.code, 0, back.stdout + back.stderr);
  assert.deepEqual(await columns('orders'), ['id', 'item', 'legacy_code']);
  assert.deepEqual(await columns('customers'), ['email', 'id', 'name'], 'v2 keeps its expand');
  // ...with its values merged back from the backup...
  assert.deepEqual(
    (await query<{ legacy_code: string }>('select legacy_code from orders order by id')).map(
      (r) => r.legacy_code,
    ),
    ['K1', 'T1'],
  );
  // ...and a restore on request merges again, deleting nothing.
  const restore = await h.cli('db', 'restore', 'shop', '--to-revision', String(v3Revision), '--json');
  assert.equal(restore.code, 0, restore.stdout + restore.stderr);
  assert.deepEqual(
    (await query<{ legacy_code: string }>('select legacy_code from orders order by id')).map(
      (r) => r.legacy_code,
    ),
    ['K1', 'T1'],
  );
  const verify = await h.cli('db', 'verify', 'shop', '--json');
  assert.equal(verify.code, 0, verify.stdout);
});

test('bad migrations: a syntax error fails the deploy leaving the schema as it was; a missing down is refused up front', async () => {
  const before = await columns('customers');
  const bad = await h.cli('rollback', 'shop', '--to-revision', '1', '--json');
  assert.equal(bad.code, 0, bad.stdout + bad.stderr);
  assert.deepEqual(await columns('customers'), ['id', 'name']);
  const v4 = await h.cli('deploy', 'shop', '--version', 'v4', '--wait');
  assert.equal(v4.code, 3, v4.stdout + v4.stderr);
  assert.match(v4.stdout, /migrateExpand failed: 0003_add_email: SQL_ERROR/);
  assert.deepEqual(await columns('customers'), ['id', 'name'], 'the failed migration left nothing behind');
  const v5 = await h.cli('deploy', 'shop', '--version', 'v5');
  assert.equal(v5.code, 1);
  assert.match(v5.stderr, /RW301 missing-down/);
  assert.ok(before.length > 0);
});
