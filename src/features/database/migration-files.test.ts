import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadMigrations, MigrationFileError, migrationLevel } from './migration-files.ts';

const root = await mkdtemp(join(tmpdir(), 'rewind-migrations-'));
after(() => rm(root, { recursive: true, force: true }));

let folders = 0;
async function folder(files: Record<string, string>): Promise<string> {
  const dir = join(root, `m${++folders}`);
  await mkdir(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

test('loads up/down pairs in number order with header directives and checksums', async () => {
  const up3 =
    '-- rewind:phase contract\n-- rewind:changes public.Orders, users\n\nALTER TABLE orders DROP COLUMN legacy;\n';
  const dir = await folder({
    '0010_add_index.up.sql': 'CREATE INDEX CONCURRENTLY orders_email ON orders (email);',
    '0003_drop_legacy.up.sql': up3,
    '0003_drop_legacy.down.sql': 'ALTER TABLE orders ADD COLUMN legacy text;',
    '0001_init.up.sql': '-- rewind:changes none\nCREATE TABLE orders (id int);\nCREATE TABLE users (id int);',
    '0001_init.down.sql': 'DROP TABLE users;\nDROP TABLE orders;',
    'README.md': 'not a migration',
  });
  await mkdir(join(dir, 'archive.sql'));
  const ms = await loadMigrations(dir, 'postgres');
  assert.deepEqual(
    ms.map((m) => [
      m.id,
      m.key,
      m.declaredPhase,
      m.declaredChanges,
      m.upStatements.length,
      m.downStatements.length,
    ]),
    [
      [1, '0001_init', null, [], 2, 2],
      [3, '0003_drop_legacy', 'contract', ['orders', 'users'], 1, 1],
      [10, '0010_add_index', null, null, 1, 0],
    ],
  );
  const [init, drop, index] = ms;
  assert.equal(init?.name, 'init');
  assert.equal(drop?.upPath, join(dir, '0003_drop_legacy.up.sql'));
  assert.equal(drop?.downPath, join(dir, '0003_drop_legacy.down.sql'));
  assert.equal(drop?.upSql, up3);
  assert.equal(drop?.checksum, createHash('sha256').update(up3).digest('hex'));
  assert.deepEqual(drop?.upStatements, [{ sql: 'ALTER TABLE orders DROP COLUMN legacy', line: 4 }]);
  assert.equal(index?.downPath, null);
  assert.equal(index?.downSql, null);
  assert.deepEqual(index?.downStatements, []);
  assert.equal(migrationLevel(ms), 10);
  assert.equal(migrationLevel([]), 0);
});

test('an empty folder has no migrations', async () => {
  assert.deepEqual(await loadMigrations(await folder({}), 'sqlite'), []);
});

test('statements are split for the engine', async () => {
  const dir = await folder({ '1_a.up.sql': "# mysql comment; here\nINSERT INTO t VALUES ('x\\';y');" });
  const [m] = await loadMigrations(dir, 'mysql');
  assert.deepEqual(m?.upStatements, [{ sql: "INSERT INTO t VALUES ('x\\';y')", line: 2 }]);
});

test('a byte-order mark is not part of the SQL but is part of the checksum', async () => {
  const bytes = Buffer.concat([
    Buffer.from([0xef, 0xbb, 0xbf]),
    Buffer.from('-- rewind:phase expand\nSELECT 1;'),
  ]);
  const dir = await folder({});
  await writeFile(join(dir, '1_a.up.sql'), bytes);
  const [m] = await loadMigrations(dir, 'postgres');
  assert.equal(m?.declaredPhase, 'expand');
  assert.equal(m?.checksum, createHash('sha256').update(bytes).digest('hex'));
});

const errorCases: {
  name: string;
  files: Record<string, string>;
  file: string;
  line?: number;
  message: RegExp;
  fix: RegExp;
}[] = [
  {
    name: 'a .sql file with a bad name',
    files: { '0001_init.up.sql': 'SELECT 1;', 'seed.sql': 'SELECT 1;' },
    file: 'seed.sql',
    message: /does not follow NNNN_name\.up\.sql/,
    fix: /rename it/,
  },
  {
    name: 'upper-case letters in the name',
    files: { '0001_AddUser.up.sql': 'SELECT 1;' },
    file: '0001_AddUser.up.sql',
    message: /does not follow/,
    fix: /lower-case/,
  },
  {
    name: 'two migrations with the same number',
    files: { '0002_a.up.sql': 'SELECT 1;', '2_b.up.sql': 'SELECT 1;', '0001_c.up.sql': 'SELECT 1;' },
    file: '2_b.up.sql',
    message: /number 2 is also used by 0002_a\.up\.sql/,
    fix: /next free number \(3\)/,
  },
  {
    name: 'a down file without its up file, same number present',
    files: { '0001_init.up.sql': 'SELECT 1;', '0001_inti.down.sql': 'SELECT 1;' },
    file: '0001_inti.down.sql',
    message: /no matching up file/,
    fix: /rename it to 0001_init\.down\.sql/,
  },
  {
    name: 'a down file alone',
    files: { '0004_x.down.sql': 'SELECT 1;' },
    file: '0004_x.down.sql',
    message: /no matching up file/,
    fix: /add 0004_x\.up\.sql/,
  },
  {
    name: 'an unknown phase',
    files: { '1_a.up.sql': '-- rewind:phase migrate\nSELECT 1;' },
    file: '1_a.up.sql',
    line: 1,
    message: /rewind:phase "migrate" is not a phase/,
    fix: /expand.*contract/,
  },
  {
    name: 'an unknown directive',
    files: { '1_a.up.sql': '-- first\n-- rewind:phaze expand\nSELECT 1;' },
    file: '1_a.up.sql',
    line: 2,
    message: /unknown directive rewind:phaze/,
    fix: /rewind:phase/,
  },
  {
    name: 'a changes list with a bad name',
    files: { '1_a.up.sql': '-- rewind:changes orders, drop table x\nSELECT 1;' },
    file: '1_a.up.sql',
    line: 1,
    message: /"drop table x", which is not a table name/,
    fix: /rewind:changes none/,
  },
  {
    name: 'an empty changes list',
    files: { '1_a.up.sql': '-- rewind:changes\nSELECT 1;' },
    file: '1_a.up.sql',
    line: 1,
    message: /lists no table/,
    fix: /none/,
  },
  {
    name: 'a directive given twice',
    files: { '1_a.up.sql': '-- rewind:phase expand\n-- rewind:phase contract\nSELECT 1;' },
    file: '1_a.up.sql',
    line: 2,
    message: /given twice/,
    fix: /keep one/,
  },
  {
    name: 'a directive after the first statement',
    files: { '1_a.up.sql': 'SELECT 1;\n-- rewind:phase contract\n' },
    file: '1_a.up.sql',
    line: 2,
    message: /after the first statement/,
    fix: /top of the file/,
  },
  {
    name: 'an up file with only comments',
    files: { '1_a.up.sql': '-- rewind:phase expand\n/* later */\n;\n' },
    file: '1_a.up.sql',
    message: /holds no SQL statement/,
    fix: /write the migration/,
  },
];

for (const c of errorCases) {
  test(`refuses ${c.name}`, async () => {
    const dir = await folder(c.files);
    await assert.rejects(loadMigrations(dir, 'postgres'), (err: unknown) => {
      assert.ok(err instanceof MigrationFileError);
      assert.equal(err.file, join(dir, c.file));
      assert.equal(err.line, c.line ?? null);
      assert.match(err.message, c.message);
      assert.ok(err.message.startsWith(join(dir, c.file)), err.message);
      assert.ok(err.message.includes(`Fix: ${err.fix}`));
      assert.match(err.fix, c.fix);
      return true;
    });
  });
}

test('refuses a folder that does not exist', async () => {
  const dir = join(root, 'nope');
  await assert.rejects(loadMigrations(dir, 'postgres'), (err: unknown) => {
    assert.ok(err instanceof MigrationFileError);
    assert.equal(err.file, dir);
    assert.match(err.message, /migrations folder does not exist/);
    return true;
  });
});

test('refuses a file given as the folder', async () => {
  const dir = await folder({ 'x.txt': '' });
  await assert.rejects(loadMigrations(join(dir, 'x.txt'), 'postgres'), /not a folder/);
});
