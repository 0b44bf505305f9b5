// Which pg_dump the PostgreSQL scratch copy uses: the newest that can read the server, or an
// error that says what was found and what to install.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pgTools, scratchName } from './scratch.ts';

const URL = 'postgres://app:s3cret@db.example:5432/shop';

test('a pg_dump older than the server is refused, naming what was found and what to install, never the password', () => {
  assert.throws(
    () => pgTools(99, URL),
    (err: Error) => {
      assert.match(err.message, /PostgreSQL 99/);
      assert.match(err.message, /found pg_dump \d+\.\d+ \(.+\)/);
      assert.match(err.message, /apt-get install postgresql-client-99/);
      assert.match(err.message, /REWIND_PG_BIN/);
      assert.doesNotMatch(err.message, /s3cret/);
      return true;
    },
  );
});

test('$REWIND_PG_BIN is searched first, and the newest recent-enough pg_dump wins', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rewind-pgbin-'));
  const saved = process.env.REWIND_PG_BIN;
  try {
    for (const [name, out] of [
      ['pg_dump', 'pg_dump (PostgreSQL) 99.1'],
      ['psql', 'psql (PostgreSQL) 99.1'],
    ]) {
      await writeFile(join(dir, name!), `#!/bin/sh\necho '${out}'\n`);
      await chmod(join(dir, name!), 0o755);
    }
    process.env.REWIND_PG_BIN = dir;
    const tools = pgTools(99, URL);
    assert.equal(tools.pgDump, join(dir, 'pg_dump'));
    assert.equal(tools.psql, join(dir, 'psql'));
    assert.equal(tools.version, '99.1');
  } finally {
    if (saved === undefined) delete process.env.REWIND_PG_BIN;
    else process.env.REWIND_PG_BIN = saved;
    await rm(dir, { recursive: true, force: true });
  }
});

test('scratch names are unique, prefixed, valid identifiers of at most 63 characters', () => {
  const a = scratchName('Shop-Front.EU');
  const b = scratchName('Shop-Front.EU');
  assert.notEqual(a, b);
  assert.match(a, /^rewind_rt_shop_front_eu_[0-9a-f]{12}$/);
  assert.ok(scratchName('x'.repeat(200)).length <= 63);
});
