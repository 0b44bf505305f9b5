import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LINT_RULES, lintMigration, lintMigrations, normalizeSql } from './lint.ts';
import { loadPgParser } from './pg-ast.ts';
import { splitStatements } from './sql-split.ts';
import type { DatabaseEngineName, LintSeverity, Migration, MigrationPhase } from './types.ts';

interface Fixture {
  readonly up: string;
  readonly down?: string | null;
  readonly declared?: MigrationPhase | null;
  readonly engine?: DatabaseEngineName;
}

function migration(f: Fixture, id = 7): Migration {
  const engine = f.engine ?? 'postgres';
  const down = f.down === undefined ? '-- undo\nSELECT 1;' : f.down;
  return {
    id,
    name: 'change',
    key: `000${id}_change`,
    upPath: `/m/000${id}_change.up.sql`,
    downPath: down === null ? null : `/m/000${id}_change.down.sql`,
    upSql: f.up,
    downSql: down,
    upStatements: splitStatements(f.up, engine),
    downStatements: down === null ? [] : splitStatements(down, engine),
    declaredPhase: f.declared ?? null,
    declaredChanges: null,
    checksum: 'x',
  };
}

function lint(f: Fixture) {
  return lintMigration(migration(f), f.engine ?? 'postgres');
}

// Migrations built by hand here, not by loadMigrations (which loads the parser).
await loadPgParser();

interface Case extends Fixture {
  readonly name: string;
  /** Codes of the findings, in report order. */
  readonly codes: readonly string[];
  /** Their severities, when the case is about them. */
  readonly severities?: readonly LintSeverity[];
  readonly phase?: MigrationPhase;
}

// Each statement-level case is one statement (so RW207/RW304 stay quiet) on an existing table.
const cases: readonly Case[] = [
  // RW1xx: contract
  {
    name: 'drop table',
    up: 'DROP TABLE IF EXISTS public.legacy CASCADE;',
    codes: ['RW101'],
    phase: 'contract',
  },
  {
    name: 'drop column',
    up: 'ALTER TABLE ONLY "Orders" DROP COLUMN IF EXISTS note;',
    codes: ['RW102'],
    phase: 'contract',
  },
  {
    name: 'mysql drop without COLUMN',
    engine: 'mysql',
    up: 'ALTER TABLE `orders` DROP `note`;',
    codes: ['RW102'],
  },
  {
    name: 'sqlite drop column',
    engine: 'sqlite',
    up: 'ALTER TABLE orders DROP COLUMN note;',
    codes: ['RW102'],
  },
  {
    name: 'drop constraint is not drop column (but a rollback hazard)',
    up: 'ALTER TABLE orders DROP CONSTRAINT orders_fk;',
    codes: ['RW113'],
    severities: ['error'],
    phase: 'expand',
  },
  {
    name: 'drop constraint that the down file re-adds NOT VALID: a warning',
    up: 'ALTER TABLE orders DROP CONSTRAINT orders_fk;',
    down: 'ALTER TABLE orders ADD CONSTRAINT orders_fk FOREIGN KEY (user_id) REFERENCES users NOT VALID;',
    codes: ['RW113'],
    severities: ['warning'],
  },
  {
    name: 'mysql drop index/foreign key',
    engine: 'mysql',
    up: 'ALTER TABLE orders DROP INDEX i, DROP FOREIGN KEY f;',
    codes: [],
  },
  {
    name: 'rename table',
    up: 'ALTER TABLE orders RENAME TO purchases;',
    codes: ['RW103'],
    phase: 'contract',
  },
  {
    name: 'mysql RENAME TABLE',
    engine: 'mysql',
    up: 'RENAME TABLE orders TO purchases, a TO b;',
    codes: ['RW103', 'RW103'],
  },
  {
    name: 'rename column',
    up: 'ALTER TABLE orders RENAME COLUMN total TO amount;',
    codes: ['RW104'],
    phase: 'contract',
  },
  { name: 'pg rename without COLUMN', up: 'ALTER TABLE orders RENAME total TO amount;', codes: ['RW104'] },
  { name: 'rename constraint is fine', up: 'ALTER TABLE orders RENAME CONSTRAINT a TO b;', codes: [] },
  {
    name: 'mysql CHANGE COLUMN renames',
    engine: 'mysql',
    up: 'ALTER TABLE orders CHANGE COLUMN total amount int;',
    codes: ['RW104'],
  },
  {
    name: 'mysql CHANGE same name retypes',
    engine: 'mysql',
    up: 'ALTER TABLE orders CHANGE total `total` bigint;',
    codes: ['RW105'],
  },
  {
    name: 'change type',
    up: 'ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2);',
    codes: ['RW105'],
    phase: 'contract',
  },
  { name: 'set data type', up: 'ALTER TABLE orders ALTER total SET DATA TYPE bigint;', codes: ['RW105'] },
  {
    name: 'mysql MODIFY COLUMN',
    engine: 'mysql',
    up: 'ALTER TABLE orders MODIFY COLUMN total bigint NOT NULL;',
    codes: ['RW105'],
  },
  {
    name: 'add NOT NULL without default',
    up: 'ALTER TABLE orders ADD COLUMN region text NOT NULL;',
    codes: ['RW106'],
    phase: 'contract',
  },
  {
    name: 'mysql add NOT NULL without COLUMN keyword',
    engine: 'mysql',
    up: 'ALTER TABLE orders ADD region varchar(9) NOT NULL;',
    codes: ['RW106'],
  },
  {
    name: 'sqlite add NOT NULL',
    engine: 'sqlite',
    up: 'ALTER TABLE orders ADD COLUMN region text NOT NULL;',
    codes: ['RW106'],
  },
  {
    name: 'add NOT NULL with default is expand',
    up: "ALTER TABLE orders ADD COLUMN region text NOT NULL DEFAULT 'eu';",
    codes: [],
    phase: 'expand',
  },
  {
    name: "'NOT NULL' inside a string is not a constraint",
    up: "ALTER TABLE orders ADD COLUMN note text DEFAULT 'NOT NULL';",
    codes: [],
  },
  {
    name: 'mysql auto-increment column',
    engine: 'mysql',
    up: 'ALTER TABLE t ADD COLUMN id int NOT NULL AUTO_INCREMENT;',
    codes: [],
  },
  {
    name: 'set not null',
    up: 'ALTER TABLE orders ALTER COLUMN region SET NOT NULL;',
    codes: ['RW107'],
    phase: 'contract',
  },
  {
    name: 'drop not null is expand, a rollback hazard',
    up: 'ALTER TABLE orders ALTER COLUMN region DROP NOT NULL;',
    codes: ['RW112'],
    severities: ['error'],
    phase: 'expand',
  },
  {
    name: 'drop not null with a down file that backfills first: a warning',
    up: 'ALTER TABLE orders ALTER COLUMN region DROP NOT NULL;',
    down: "UPDATE orders SET region = 'eu' WHERE region IS NULL;\nALTER TABLE orders ALTER COLUMN region SET NOT NULL;",
    codes: ['RW112'],
    severities: ['warning'],
  },
  {
    name: 'drop default',
    up: 'ALTER TABLE orders ALTER COLUMN region DROP DEFAULT;',
    codes: ['RW108'],
    phase: 'contract',
  },
  {
    name: 'truncate',
    up: 'TRUNCATE TABLE ONLY orders, public.items RESTART IDENTITY CASCADE;',
    codes: ['RW109'],
    phase: 'contract',
  },
  { name: 'delete without where', up: 'DELETE FROM orders;', codes: ['RW109'], phase: 'contract' },
  { name: 'delete with where', up: "DELETE FROM orders WHERE status = 'x';", codes: [], phase: 'expand' },
  {
    name: 'delete with WHERE only in a subquery',
    up: 'DELETE FROM orders USING (SELECT id FROM x WHERE a) s;',
    codes: ['RW109'],
  },
  { name: 'update without where', up: 'UPDATE orders SET status = NULL;', codes: ['RW110'], phase: 'expand' },
  { name: 'update with where', up: 'UPDATE orders o SET status = 1 WHERE status IS NULL;', codes: [] },
  {
    name: 'backfill of a column added in the same migration',
    up: 'ALTER TABLE orders ADD COLUMN region text;\nUPDATE orders SET region = (SELECT 1 FROM x WHERE y);',
    codes: ['RW214'],
  },
  { name: 'drop view', up: 'DROP VIEW IF EXISTS order_totals;', codes: ['RW111'], phase: 'contract' },
  { name: 'drop function', up: 'DROP FUNCTION touch();', codes: ['RW111'] },
  { name: 'drop index is neither', up: 'DROP INDEX CONCURRENTLY orders_email;', codes: [], phase: 'expand' },
  // RW2xx: locking
  {
    name: 'create index',
    up: 'CREATE INDEX orders_email ON public.orders USING btree (email);',
    codes: ['RW201'],
    phase: 'expand',
  },
  { name: 'create unnamed index', up: 'CREATE UNIQUE INDEX ON orders (email);', codes: ['RW201'] },
  {
    name: 'create index concurrently',
    up: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON orders (email);',
    codes: [],
  },
  {
    name: 'mysql create index is online',
    engine: 'mysql',
    up: 'CREATE INDEX i ON orders (email);',
    codes: [],
  },
  {
    name: 'mysql fulltext index blocks writes',
    engine: 'mysql',
    up: 'CREATE FULLTEXT INDEX i ON orders (note);',
    codes: ['RW201'],
  },
  {
    name: 'mysql index with ALGORITHM=COPY',
    engine: 'mysql',
    up: 'ALTER TABLE orders ADD INDEX i (email), ALGORITHM=COPY;',
    codes: ['RW201'],
  },
  {
    name: 'mysql online create index',
    engine: 'mysql',
    up: 'CREATE INDEX i ON orders (email) ALGORITHM=INPLACE LOCK=NONE;',
    codes: [],
  },
  {
    name: 'mysql ALTER ADD INDEX is online',
    engine: 'mysql',
    up: 'ALTER TABLE orders ADD INDEX i (email);',
    codes: [],
  },
  {
    name: 'mysql ALTER ADD UNIQUE online',
    engine: 'mysql',
    up: 'ALTER TABLE orders ADD UNIQUE KEY u (email), ALGORITHM=INPLACE, LOCK=NONE;',
    codes: [],
  },
  { name: 'sqlite create index', engine: 'sqlite', up: 'CREATE INDEX i ON orders (email);', codes: [] },
  {
    name: 'volatile default',
    up: 'ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();',
    codes: ['RW202'],
    phase: 'expand',
  },
  { name: 'serial column', up: 'ALTER TABLE orders ADD COLUMN seq bigserial;', codes: ['RW202'] },
  {
    name: 'identity column',
    up: 'ALTER TABLE orders ADD COLUMN n int GENERATED ALWAYS AS IDENTITY;',
    codes: ['RW202'],
  },
  {
    name: 'now() is stable: no rewrite',
    up: 'ALTER TABLE orders ADD COLUMN at timestamptz DEFAULT now();',
    codes: [],
  },
  {
    name: 'mysql uuid() default',
    engine: 'mysql',
    up: 'ALTER TABLE orders ADD COLUMN token char(36) DEFAULT (uuid());',
    codes: [],
  },
  {
    name: 'foreign key',
    up: 'ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id);',
    codes: ['RW203'],
  },
  {
    name: 'foreign key NOT VALID',
    up: 'ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;',
    codes: [],
  },
  {
    name: 'inline REFERENCES',
    up: 'ALTER TABLE orders ADD COLUMN user_id int REFERENCES users (id);',
    codes: ['RW203'],
  },
  {
    name: 'mysql foreign key',
    engine: 'mysql',
    up: 'ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id);',
    codes: [],
  },
  { name: 'check', up: 'ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0);', codes: ['RW204'] },
  {
    name: 'check NOT VALID',
    up: 'ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;',
    codes: [],
  },
  {
    name: 'validate constraint',
    up: 'ALTER TABLE orders VALIDATE CONSTRAINT positive;',
    codes: [],
    phase: 'expand',
  },
  { name: 'unique constraint', up: 'ALTER TABLE orders ADD CONSTRAINT u UNIQUE (email);', codes: ['RW205'] },
  {
    name: 'unique USING INDEX',
    up: 'ALTER TABLE orders ADD CONSTRAINT u UNIQUE USING INDEX orders_email;',
    codes: [],
  },
  { name: 'primary key', up: 'ALTER TABLE orders ADD PRIMARY KEY (id);', codes: ['RW205'] },
  { name: 'inline unique column', up: 'ALTER TABLE orders ADD COLUMN code text UNIQUE;', codes: ['RW205'] },
  {
    name: 'lock table',
    up: 'LOCK TABLE orders IN ACCESS EXCLUSIVE MODE;',
    codes: ['RW206'],
    phase: 'expand',
  },
  { name: 'mysql lock tables', engine: 'mysql', up: 'LOCK TABLES orders WRITE;', codes: ['RW206'] },
  {
    name: 'concurrently with company',
    up: "SET lock_timeout = '2s';\nCREATE INDEX CONCURRENTLY i ON orders (email);",
    codes: ['RW207'],
  },
  // New tables: nothing runs against them yet.
  {
    name: 'everything on a table created in the same migration',
    up: [
      'CREATE TABLE IF NOT EXISTS "Items" (id int);',
      'CREATE INDEX items_id ON items (id);',
      'ALTER TABLE items ADD COLUMN sku text NOT NULL, ADD CONSTRAINT fk FOREIGN KEY (id) REFERENCES orders (id);',
      'ALTER TABLE items RENAME COLUMN sku TO code;',
      'DELETE FROM items;',
    ].join('\n'),
    codes: [],
    phase: 'expand',
  },
  { name: 'drop of a table created here', up: 'CREATE TABLE tmp (id int);\nDROP TABLE tmp;', codes: [] },
  // Comments and quoting do not fool it.
  { name: 'statement in a comment', up: '-- DROP TABLE orders;\n/* TRUNCATE x; */ SELECT 1;', codes: [] },
  {
    name: 'keyword in a string',
    up: "INSERT INTO audit VALUES ('DROP TABLE orders; DELETE FROM x');",
    codes: [],
  },
  {
    name: 'function body is not linted',
    up: 'CREATE FUNCTION f() RETURNS void AS $$ DELETE FROM orders $$ LANGUAGE sql;',
    codes: [],
  },
  // RW3xx: the whole file
  { name: 'missing down', up: 'ALTER TABLE orders ADD COLUMN note text;', down: null, codes: ['RW301'] },
  {
    name: 'declared expand with a contract statement',
    up: '-- rewind:phase expand\nALTER TABLE orders DROP COLUMN note;',
    declared: 'expand',
    codes: ['RW102', 'RW302'],
    phase: 'contract',
  },
  {
    name: 'declared contract on expand statements (warning)',
    up: '-- rewind:phase contract\nALTER TABLE orders ADD COLUMN note text;',
    declared: 'contract',
    codes: ['RW302'],
    phase: 'expand',
  },
  {
    name: 'mixed expand and contract',
    up: 'ALTER TABLE orders ADD COLUMN amount int;\nALTER TABLE orders DROP COLUMN total;',
    codes: ['RW102', 'RW303'],
    phase: 'contract',
  },
  {
    name: 'mysql: several DDL statements, down count matches',
    engine: 'mysql',
    up: 'ALTER TABLE orders ADD COLUMN a int;\nALTER TABLE orders ADD COLUMN b int;',
    down: 'ALTER TABLE orders DROP COLUMN b;\nALTER TABLE orders DROP COLUMN a;',
    codes: ['RW304'],
  },
  {
    name: 'mysql: down statement count differs',
    engine: 'mysql',
    up: 'ALTER TABLE orders ADD COLUMN a int, ADD COLUMN b int;',
    down: 'ALTER TABLE orders DROP COLUMN b;\nALTER TABLE orders DROP COLUMN a;',
    codes: ['RW305'],
  },
  {
    name: 'transaction control in the file',
    up: 'BEGIN;\nALTER TABLE orders ADD COLUMN a int;\nCOMMIT;',
    codes: ['RW306', 'RW306'],
  },
  {
    name: 'mysql: start transaction / rollback',
    engine: 'mysql',
    up: 'START TRANSACTION;\nUPDATE orders SET a = 1 WHERE id = 2;\nROLLBACK;',
    down: 'SELECT 1;\nSELECT 1;\nSELECT 1;',
    codes: ['RW306', 'RW306'],
  },
  // Issue 11 (7): what the PostgreSQL parser sees.
  {
    name: 'DROP COLUMN inside a DO block is contract',
    up: 'DO $$\nBEGIN\n  IF true THEN\n    ALTER TABLE orders DROP COLUMN note;\n  END IF;\nEND $$;',
    codes: ['RW102'],
    phase: 'contract',
  },
  {
    name: 'EXECUTE of a literal inside a DO block',
    up: "DO $$ BEGIN EXECUTE 'DROP TABLE legacy'; END $$;",
    codes: ['RW101'],
    phase: 'contract',
  },
  { name: 'a harmless DO block', up: "DO $$ BEGIN RAISE NOTICE 'hi'; END $$;", codes: [] },
  { name: 'drop index without concurrently', up: 'DROP INDEX orders_email;', codes: ['RW208'] },
  {
    name: 'drop of an index created here',
    up: 'CREATE INDEX CONCURRENTLY tmp_i ON orders (email);\nDROP INDEX tmp_i;',
    codes: ['RW207'],
  },
  {
    name: 'exclusion constraint',
    up: 'ALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&);',
    codes: ['RW209'],
  },
  { name: 'vacuum full', up: 'VACUUM FULL orders;', codes: ['RW210'] },
  { name: 'plain vacuum', up: 'VACUUM orders;', codes: [] },
  { name: 'reindex', up: 'REINDEX TABLE orders;', codes: ['RW211'] },
  { name: 'reindex concurrently', up: 'REINDEX TABLE CONCURRENTLY orders;', codes: [] },
  { name: 'cluster', up: 'CLUSTER orders USING orders_pkey;', codes: ['RW212'] },
  { name: 'json column', up: 'ALTER TABLE orders ADD COLUMN meta json;', codes: ['RW213'] },
  { name: 'jsonb column', up: 'ALTER TABLE orders ADD COLUMN meta jsonb;', codes: [] },
  {
    name: 'the RW107 fix sequence in one contract file: RW107 acknowledged, no RW303',
    declared: 'contract',
    up: [
      '-- rewind:phase contract',
      'ALTER TABLE orders ADD CONSTRAINT region_nn CHECK (region IS NOT NULL) NOT VALID;',
      'ALTER TABLE orders VALIDATE CONSTRAINT region_nn;',
      'ALTER TABLE orders ALTER COLUMN region SET NOT NULL;',
      'ALTER TABLE orders DROP CONSTRAINT region_nn;',
    ].join('\n'),
    codes: ['RW107'],
    severities: ['warning'],
    phase: 'contract',
  },
  {
    name: 'the RW107 fix sequence undeclared: SET NOT NULL after the validated check is a warning',
    up: [
      'ALTER TABLE orders ADD CONSTRAINT region_nn CHECK (region IS NOT NULL) NOT VALID;',
      'ALTER TABLE orders VALIDATE CONSTRAINT region_nn;',
      'ALTER TABLE orders ALTER COLUMN region SET NOT NULL;',
    ].join('\n'),
    codes: ['RW107'],
    severities: ['warning'],
    phase: 'contract',
  },
  {
    name: 'a check on another column does not excuse SET NOT NULL',
    up: [
      'ALTER TABLE orders ADD CONSTRAINT country_nn CHECK (country IS NOT NULL) NOT VALID;',
      'ALTER TABLE orders VALIDATE CONSTRAINT country_nn;',
      'ALTER TABLE orders ALTER COLUMN region SET NOT NULL;',
    ].join('\n'),
    codes: ['RW107'],
    severities: ['error'],
  },
  { name: 'set unlogged', up: 'ALTER TABLE sessions SET UNLOGGED;', codes: ['RW215'], severities: ['error'] },
  { name: 'set logged', up: 'ALTER TABLE sessions SET LOGGED;', codes: ['RW215'] },
  {
    name: 'set unlogged on a table created here',
    up: 'CREATE TABLE scratch (id int);\nALTER TABLE scratch SET UNLOGGED;',
    codes: [],
  },
  { name: 'refresh materialized view', up: 'REFRESH MATERIALIZED VIEW totals;', codes: ['RW216'] },
  { name: 'refresh concurrently', up: 'REFRESH MATERIALIZED VIEW CONCURRENTLY totals;', codes: [] },
  {
    name: 'set tablespace',
    up: 'ALTER TABLE orders SET TABLESPACE fast;',
    codes: ['RW217'],
    severities: ['error'],
  },
  {
    name: 'set tablespace of a table created here',
    up: 'CREATE TABLE scratch (id int);\nALTER TABLE scratch SET TABLESPACE fast;',
    codes: [],
  },
  {
    name: 'attach partition scans it',
    up: "ALTER TABLE m ATTACH PARTITION m_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');",
    codes: ['RW218'],
    severities: ['error'],
  },
  {
    name: 'attach partition after a validated check on it',
    up: [
      "ALTER TABLE m_2027 ADD CONSTRAINT b CHECK (at >= '2027-01-01' AND at < '2028-01-01') NOT VALID;",
      'ALTER TABLE m_2027 VALIDATE CONSTRAINT b;',
      "ALTER TABLE m ATTACH PARTITION m_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');",
    ].join('\n'),
    codes: ['RW218'],
    severities: ['warning'],
  },
  {
    name: 'attach partition: a check on another table does not count',
    up: [
      'ALTER TABLE m_2026 ADD CONSTRAINT b CHECK (at IS NOT NULL) NOT VALID;',
      'ALTER TABLE m_2026 VALIDATE CONSTRAINT b;',
      "ALTER TABLE m ATTACH PARTITION m_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');",
    ].join('\n'),
    codes: ['RW218'],
    severities: ['error'],
  },
  {
    name: 'alter domain add constraint',
    up: 'ALTER DOMAIN amount ADD CONSTRAINT positive CHECK (VALUE > 0);',
    codes: ['RW219'],
    severities: ['error'],
  },
  {
    name: 'alter domain add constraint not valid',
    up: 'ALTER DOMAIN amount ADD CONSTRAINT positive CHECK (VALUE > 0) NOT VALID;',
    codes: [],
  },
  {
    name: 'drop schema cascade drops its tables',
    up: 'DROP SCHEMA legacy CASCADE;',
    codes: ['RW101'],
    severities: ['error'],
    phase: 'contract',
  },
  { name: 'drop schema (restrict)', up: 'DROP SCHEMA legacy;', codes: ['RW111'], severities: ['warning'] },
  {
    name: 'a volatile call nested in a default',
    up: 'ALTER TABLE orders ADD COLUMN code text DEFAULT md5(random()::text);',
    codes: ['RW202'],
    severities: ['error'],
  },
  {
    name: 'a stable default nested in a cast',
    up: "ALTER TABLE orders ADD COLUMN day text DEFAULT to_char(now(), 'YYYY-MM-DD');",
    codes: [],
  },
  {
    name: 'type change to varchar with the current type unknown: a warning',
    up: 'ALTER TABLE orders ALTER COLUMN note TYPE varchar(200);',
    codes: ['RW105'],
  },
  {
    name: 'postgres: several DDL statements are one transaction',
    up: 'ALTER TABLE orders ADD COLUMN a int;\nALTER TABLE orders ADD COLUMN b int;',
    codes: [],
  },
];

for (const c of cases) {
  test(`lint ${c.engine ?? 'postgres'}: ${c.name}`, () => {
    const result = lint(c);
    assert.deepEqual(
      result.findings.map((f) => f.code),
      c.codes,
      result.findings.map((f) => `${f.code} ${f.message}`).join('\n'),
    );
    if (c.phase) assert.equal(result.phase, c.phase);
    if (c.severities)
      assert.deepEqual(
        result.findings.map((f) => f.severity),
        c.severities,
      );
  });
}

test('every rule has a case above', () => {
  const covered = new Set(cases.flatMap((c) => c.codes));
  assert.deepEqual(
    LINT_RULES.map((r) => r.code).filter((code) => !covered.has(code)),
    [],
  );
});

test('the rule catalogue is well formed', () => {
  const codes = LINT_RULES.map((r) => r.code);
  assert.equal(new Set(codes).size, codes.length);
  assert.deepEqual([...codes].sort(), codes);
  for (const r of LINT_RULES) {
    assert.match(r.code, /^RW[123]\d\d$/);
    assert.match(r.rule, /^[a-z0-9-]+$/);
    assert.ok(r.summary.length > 20 && r.fix.length > 20, r.code);
    // RW1xx destroy data or break the running revision (contract), or its rollback (the down file).
    if (r.code.startsWith('RW1') && r.phase !== 'contract') assert.match(r.summary, /\bdown\b/, r.code);
  }
});

test('a finding carries its file, line, severity, message and fix', () => {
  const up =
    '-- rewind:phase expand\n\nALTER TABLE orders ADD COLUMN a int;\n\nALTER TABLE public.orders\n  DROP COLUMN "Total";';
  const result = lintMigration(migration({ up, declared: 'expand' }), 'postgres');
  assert.deepEqual(result.findings[0], {
    code: 'RW102',
    rule: 'drop-column',
    severity: 'error',
    migration: '0007_change',
    file: '/m/0007_change.up.sql',
    line: 5,
    message: 'drops column orders.total; the running revision still reads and writes it',
    fix: LINT_RULES.find((r) => r.code === 'RW102')?.fix,
  });
  assert.deepEqual(
    result.findings.map((f) => [f.code, f.severity, f.line]),
    [
      ['RW102', 'error', 5],
      ['RW302', 'error', 5],
      ['RW303', 'error', 5],
    ],
  );
  assert.equal(result.phase, 'contract');
  assert.equal(result.declaredPhase, 'expand');
  assert.equal(result.effectivePhase, 'expand');
});

test('RW302 on a declared contract is a warning at the directive line', () => {
  const result = lint({
    up: '-- about\n-- rewind:phase contract\nCREATE TABLE t (id int);',
    declared: 'contract',
  });
  assert.deepEqual(
    result.findings.map((f) => [f.code, f.severity, f.line]),
    [['RW302', 'warning', 2]],
  );
  assert.equal(result.effectivePhase, 'contract');
});

test('engine-specific fixes', () => {
  const [pg] = lint({ up: 'CREATE INDEX i ON t (a);' }).findings;
  const [my] = lint({ up: 'CREATE FULLTEXT INDEX i ON t (a);', engine: 'mysql' }).findings;
  assert.match(pg?.message ?? '', /cannot run inside a transaction/);
  assert.match(pg?.fix ?? '', /CONCURRENTLY/);
  assert.match(my?.fix ?? '', /ALGORITHM=INPLACE, LOCK=NONE/);
  const [setPg] = lint({ up: 'ALTER TABLE t ALTER COLUMN c SET NOT NULL;' }).findings;
  assert.match(setPg?.fix ?? '', /NOT VALID/);
});

test('RW305 points at the down file', () => {
  const result = lint({
    engine: 'mysql',
    up: 'CREATE TABLE t (id int);',
    down: '\nDROP TABLE t;\nSELECT 1;',
  });
  assert.deepEqual(
    result.findings.map((f) => [f.code, f.file, f.line]),
    [['RW305', '/m/0007_change.down.sql', 2]],
  );
});

test('touched tables: lower-cased, unquoted, schema dropped, first-seen order', () => {
  const up = [
    'CREATE TABLE "Shop"."Items" (id int);',
    'CREATE INDEX CONCURRENTLY i ON ONLY public.orders (a);',
    'ALTER TABLE IF EXISTS ONLY "Legacy" RENAME TO archive;',
    'DROP TABLE a, public.b;',
    'TRUNCATE c;',
    'INSERT INTO public.audit (x) VALUES (1);',
    'UPDATE orders SET a = 1 WHERE id = 2;',
    'DELETE FROM d WHERE true;',
    'LOCK TABLE e;',
    'SELECT * FROM f;',
  ].join('\n');
  const result = lint({ up });
  assert.deepEqual(result.touchedTables, [
    'items',
    'orders',
    'legacy',
    'archive',
    'a',
    'b',
    'c',
    'audit',
    'd',
  ]);
});

test('lintMigrations lints each migration', () => {
  const ms = [migration({ up: 'DROP TABLE x;' }, 1), migration({ up: 'CREATE TABLE y (id int);' }, 2)];
  assert.deepEqual(
    lintMigrations(ms, 'postgres').map((r) => [r.migration, r.phase, r.effectivePhase]),
    [
      ['0001_change', 'contract', 'contract'],
      ['0002_change', 'expand', 'expand'],
    ],
  );
});

test('normalizeSql blanks strings, drops comments, keeps quoted identifiers', () => {
  assert.equal(
    normalizeSql('ALTER  TABLE "My  T" -- c\n ADD COLUMN x text DEFAULT \'a;  b\' /* d */', 'postgres'),
    'ALTER TABLE "My  T" ADD COLUMN x text DEFAULT \'\'',
  );
});

test('widening a varchar or numeric the folder created is safe; narrowing is RW105', () => {
  const create = migration(
    { up: 'CREATE TABLE orders (id int primary key, note varchar(50), total numeric(10, 2));' },
    1,
  );
  const change = (id: number, up: string) => {
    const m = migration({ up }, id);
    return lintMigration(m, 'postgres', [create, m]).findings.map((f) => `${f.code} ${f.severity}`);
  };
  assert.deepEqual(change(2, 'ALTER TABLE orders ALTER COLUMN note TYPE varchar(200);'), []);
  assert.deepEqual(change(3, 'ALTER TABLE orders ALTER COLUMN note TYPE text;'), []);
  assert.deepEqual(change(4, 'ALTER TABLE orders ALTER COLUMN total TYPE numeric(12, 2);'), []);
  assert.deepEqual(change(5, 'ALTER TABLE orders ALTER COLUMN note TYPE varchar(20);'), ['RW105 error']);
  assert.deepEqual(change(6, 'ALTER TABLE orders ALTER COLUMN total TYPE numeric(12, 3);'), ['RW105 error']);
  assert.deepEqual(change(7, 'ALTER TABLE orders ALTER COLUMN note TYPE integer USING 0;'), ['RW105 error']);
  // The same type is no change (int4 either way); a USING expression rewrites whatever the type.
  assert.deepEqual(change(8, 'ALTER TABLE orders ALTER COLUMN id TYPE integer;'), []);
  assert.deepEqual(
    change(9, 'ALTER TABLE orders ALTER COLUMN total TYPE numeric(10, 2) USING round(total, 2);'),
    ['RW105 error'],
  );
  assert.deepEqual(
    change(10, 'ALTER TABLE orders ALTER COLUMN total TYPE numeric(12, 2) USING total::numeric(12, 2);'),
    [],
  );
});

test('a CHECK (c IS NOT NULL) validated by an earlier migration makes SET NOT NULL a warning', () => {
  const folder = [
    migration({ up: 'ALTER TABLE orders ADD CONSTRAINT region_nn CHECK (region IS NOT NULL) NOT VALID;' }, 1),
    migration({ up: 'ALTER TABLE orders VALIDATE CONSTRAINT region_nn;' }, 2),
    migration({ up: 'ALTER TABLE orders ALTER COLUMN region SET NOT NULL;' }, 3),
    migration({ up: 'ALTER TABLE orders ALTER COLUMN country SET NOT NULL;' }, 4),
  ];
  assert.deepEqual(
    lintMigrations(folder, 'postgres').map((l) => l.findings.map((f) => `${f.code} ${f.severity}`)),
    [[], [], ['RW107 warning'], ['RW107 error']],
  );
});
