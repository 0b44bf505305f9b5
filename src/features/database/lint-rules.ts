// The linter's rule catalogue as data: stable codes, names, severities, the phase a finding
// forces, the engines, what each catches and the safer way. docs/database-lint.md lists the same
// rules with a bad and a good example; lint.ts decides when each applies.
import type { DatabaseEngineName, LintSeverity, MigrationPhase } from './types.ts';

export interface LintRule {
  /** Stable code: RW1xx contract/destructive, RW2xx locking/safety, RW3xx file-level. */
  readonly code: string;
  readonly rule: string;
  /** The usual severity; RW302 is a warning when the author declared contract on an expand file. */
  readonly severity: LintSeverity;
  /** The phase a statement with this finding forces, or null when it does not decide the phase. */
  readonly phase: MigrationPhase | null;
  readonly engines: readonly DatabaseEngineName[];
  readonly summary: string;
  readonly fix: string;
}

const ALL: readonly DatabaseEngineName[] = ['postgres', 'mysql', 'sqlite'];

export const LINT_RULES = [
  {
    code: 'RW101',
    rule: 'drop-table',
    severity: 'error',
    phase: 'contract',
    engines: ALL,
    summary:
      'DROP TABLE of a table that existed before this migration: the running revision may still use it, and rollback cannot bring the rows back.',
    fix: 'Stop using the table in one release; drop it in a later contract migration, after taking a backup.',
  },
  {
    code: 'RW102',
    rule: 'drop-column',
    severity: 'error',
    phase: 'contract',
    engines: ALL,
    summary: 'ALTER TABLE ... DROP COLUMN: the running revision still reads and writes the column.',
    fix: 'Stop reading and writing the column in one release; drop it in a later contract migration, after taking a backup.',
  },
  {
    code: 'RW103',
    rule: 'rename-table',
    severity: 'error',
    phase: 'contract',
    engines: ALL,
    summary: 'ALTER TABLE ... RENAME TO / RENAME TABLE: the running revision queries the old name.',
    fix: 'Create the new table, write to both, backfill, switch reads, then drop the old table in a later contract migration (or expose the old name through a view meanwhile).',
  },
  {
    code: 'RW104',
    rule: 'rename-column',
    severity: 'error',
    phase: 'contract',
    engines: ALL,
    summary: 'RENAME COLUMN (MySQL: CHANGE COLUMN old new): the running revision uses the old name.',
    fix: 'Add the new column, write to both, backfill, switch reads, then drop the old column in a later contract migration.',
  },
  {
    code: 'RW105',
    rule: 'change-column-type',
    severity: 'error',
    phase: 'contract',
    engines: ALL,
    summary:
      'ALTER COLUMN ... TYPE / SET DATA TYPE (MySQL: MODIFY COLUMN, CHANGE COLUMN c c): rewrites the table under lock and can break the running revision.',
    fix: 'Add a column of the new type, write to both, backfill in batches, switch reads, then drop the old column in a later contract migration.',
  },
  {
    code: 'RW106',
    rule: 'add-not-null-without-default',
    severity: 'error',
    phase: 'contract',
    engines: ALL,
    summary:
      "ADD COLUMN ... NOT NULL without DEFAULT: fails on a table with rows, and the running revision's inserts do not set the column.",
    fix: 'Add the column nullable or with a DEFAULT; backfill; add NOT NULL in a later migration once every revision writes it.',
  },
  {
    code: 'RW107',
    rule: 'set-not-null',
    severity: 'error',
    phase: 'contract',
    engines: ALL,
    summary:
      'ALTER COLUMN ... SET NOT NULL: scans the table under an exclusive lock, and the running revision may still insert NULLs. A warning once a validated CHECK (col IS NOT NULL) precedes it (this file or an earlier one): no scan then.',
    fix: 'PostgreSQL: ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; then VALIDATE CONSTRAINT c; then SET NOT NULL (no scan once the check is valid); then DROP CONSTRAINT c. Run it once every revision writes the column.',
  },
  {
    code: 'RW108',
    rule: 'drop-default',
    severity: 'warning',
    phase: 'contract',
    engines: ALL,
    summary:
      "ALTER COLUMN ... DROP DEFAULT: the running revision's inserts that leave the column out get NULL, or fail on a NOT NULL column.",
    fix: 'Drop the default in a contract migration, once no running revision relies on it.',
  },
  {
    code: 'RW109',
    rule: 'delete-all-rows',
    severity: 'error',
    phase: 'contract',
    engines: ALL,
    summary:
      'TRUNCATE, or DELETE without WHERE: every row of an existing table is gone and rollback cannot bring them back.',
    fix: 'Add a WHERE clause; if the rows really must go, do it in a contract migration after taking a backup.',
  },
  {
    code: 'RW110',
    rule: 'update-all-rows',
    severity: 'warning',
    phase: null,
    engines: ALL,
    summary:
      'UPDATE without WHERE of columns that existed before: overwrites every row, which the down file cannot restore. A backfill of columns added in the same migration is not flagged.',
    fix: 'Add a WHERE clause (e.g. WHERE col IS NULL), write the new value to a new column instead, and backfill large tables in batches.',
  },
  {
    code: 'RW111',
    rule: 'drop-object',
    severity: 'warning',
    phase: 'contract',
    engines: ALL,
    summary:
      'DROP VIEW / FUNCTION / PROCEDURE / TYPE / DOMAIN / SEQUENCE / SCHEMA / TRIGGER / EXTENSION / DATABASE: the running revision may depend on it.',
    fix: 'Drop it in a contract migration, once no running revision uses it.',
  },
  {
    code: 'RW112',
    rule: 'drop-not-null',
    severity: 'error',
    phase: null,
    engines: ['postgres'],
    summary:
      'ALTER COLUMN c DROP NOT NULL: once the new revision writes NULLs, the down migration (SET NOT NULL) fails, and the running revision may not expect NULLs. A warning when the down file backfills the column (UPDATE ... SET c = ...).',
    fix: 'Make sure every running revision reads NULL safely; write a down migration that backfills before SET NOT NULL.',
  },
  {
    code: 'RW113',
    rule: 'drop-constraint',
    severity: 'error',
    phase: null,
    engines: ['postgres'],
    summary:
      'DROP CONSTRAINT of a constraint the migration did not add: rows breaking it can be written from then on, and the down migration re-adding it fails. A warning when the down file re-adds it NOT VALID.',
    fix: 'Re-add it in the down file as NOT VALID, then VALIDATE once the offending rows are fixed.',
  },
  {
    code: 'RW201',
    rule: 'create-index-not-concurrently',
    severity: 'error',
    phase: 'expand',
    engines: ['postgres', 'mysql'],
    summary:
      'CREATE INDEX on an existing table without CONCURRENTLY (PostgreSQL) or without ALGORITHM=INPLACE, LOCK=NONE (MySQL): blocks writes while the index builds.',
    fix: 'PostgreSQL: CREATE INDEX CONCURRENTLY, alone in its migration (it cannot run inside a transaction). MySQL: add ALGORITHM=INPLACE, LOCK=NONE so MySQL refuses rather than blocks writes.',
  },
  {
    code: 'RW202',
    rule: 'volatile-default',
    severity: 'error',
    phase: 'expand',
    engines: ['postgres'],
    summary:
      'ADD COLUMN with a volatile default (random(), gen_random_uuid(), uuid_generate_v4(), clock_timestamp(), nextval() / serial, identity, stored generated column): rewrites the whole table under an exclusive lock.',
    fix: 'Add the column without a default (or with a constant one), set the default with ALTER COLUMN ... SET DEFAULT, and backfill existing rows in batches.',
  },
  {
    code: 'RW203',
    rule: 'foreign-key-without-not-valid',
    severity: 'error',
    phase: 'expand',
    engines: ['postgres'],
    summary:
      'ADD FOREIGN KEY / REFERENCES on an existing table without NOT VALID: checks every row while locking both tables against writes.',
    fix: 'ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID; then ALTER TABLE ... VALIDATE CONSTRAINT ... as a separate statement (it only takes a light lock).',
  },
  {
    code: 'RW204',
    rule: 'check-without-not-valid',
    severity: 'error',
    phase: 'expand',
    engines: ['postgres'],
    summary: 'ADD CHECK on an existing table without NOT VALID: scans every row under an exclusive lock.',
    fix: 'ADD CONSTRAINT ... CHECK (...) NOT VALID; then ALTER TABLE ... VALIDATE CONSTRAINT ... as a separate statement.',
  },
  {
    code: 'RW205',
    rule: 'unique-constraint-without-index',
    severity: 'error',
    phase: 'expand',
    engines: ['postgres'],
    summary:
      'ADD UNIQUE / PRIMARY KEY on an existing table (constraint or inline on a new column): builds the index under an exclusive lock.',
    fix: 'CREATE UNIQUE INDEX CONCURRENTLY idx ON t (cols) in its own migration; then ALTER TABLE t ADD CONSTRAINT c UNIQUE USING INDEX idx.',
  },
  {
    code: 'RW206',
    rule: 'lock-table',
    severity: 'error',
    phase: null,
    engines: ALL,
    summary: 'LOCK TABLE(S): blocks the running revision for as long as the migration holds it.',
    fix: 'Leave locking to the statements themselves and keep the lock timeout short; if a lock is unavoidable, take it in a migration that does little else.',
  },
  {
    code: 'RW207',
    rule: 'concurrently-not-alone',
    severity: 'warning',
    phase: null,
    engines: ['postgres'],
    summary:
      "A CONCURRENTLY statement shares its migration with other statements: it cannot run inside the migration's transaction, so a failure leaves part of the file applied.",
    fix: 'Give the CONCURRENTLY statement a migration of its own.',
  },
  {
    code: 'RW208',
    rule: 'drop-index-not-concurrently',
    severity: 'error',
    phase: null,
    engines: ['postgres'],
    summary: 'DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table until done.',
    fix: 'DROP INDEX CONCURRENTLY ..., alone in its migration.',
  },
  {
    code: 'RW209',
    rule: 'exclusion-constraint',
    severity: 'error',
    phase: null,
    engines: ['postgres'],
    summary:
      'ADD CONSTRAINT ... EXCLUDE on an existing table builds its index and checks every row under an ACCESS EXCLUSIVE lock; it cannot be NOT VALID.',
    fix: 'Add it while the table is small, in a maintenance window, or enforce the rule in the application first.',
  },
  {
    code: 'RW210',
    rule: 'vacuum-full',
    severity: 'error',
    phase: null,
    engines: ['postgres'],
    summary: 'VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock: reads and writes wait.',
    fix: 'Plain VACUUM (no lock on reads and writes), or pg_repack outside the migration.',
  },
  {
    code: 'RW211',
    rule: 'reindex-not-concurrently',
    severity: 'error',
    phase: null,
    engines: ['postgres'],
    summary: 'REINDEX without CONCURRENTLY blocks writes to the table (and reads that use the index).',
    fix: 'REINDEX ... CONCURRENTLY, alone in its migration.',
  },
  {
    code: 'RW212',
    rule: 'cluster',
    severity: 'error',
    phase: null,
    engines: ['postgres'],
    summary: 'CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock.',
    fix: 'pg_repack outside the migration, or no CLUSTER.',
  },
  {
    code: 'RW213',
    rule: 'json-column',
    severity: 'warning',
    phase: null,
    engines: ['postgres'],
    summary:
      'A json (not jsonb) column: no equality operator, so DISTINCT, GROUP BY and UNION on it fail, and every read re-parses the text.',
    fix: 'Use jsonb (ALTER COLUMN c TYPE jsonb USING c::jsonb on an existing one, which rewrites it).',
  },
  {
    code: 'RW214',
    rule: 'backfill-with-ddl',
    severity: 'error',
    phase: null,
    engines: ['postgres', 'sqlite'],
    summary:
      'An UPDATE of a table the same migration alters: both run in one transaction, so the exclusive lock of the ALTER is held until the backfill ends.',
    fix: 'Backfill in a later migration (in batches), after the schema change has committed.',
  },
  {
    code: 'RW215',
    rule: 'set-logged',
    severity: 'error',
    phase: null,
    engines: ['postgres'],
    summary:
      'ALTER TABLE ... SET LOGGED / SET UNLOGGED rewrites the whole table (into or out of the WAL) under an ACCESS EXCLUSIVE lock.',
    fix: 'Create the table logged (or unlogged) from the start, or switch it in a maintenance window outside the migration.',
  },
  {
    code: 'RW216',
    rule: 'refresh-materialized-view-not-concurrently',
    severity: 'error',
    phase: null,
    engines: ['postgres'],
    summary:
      'REFRESH MATERIALIZED VIEW without CONCURRENTLY holds an ACCESS EXCLUSIVE lock on the view: every read of it waits for the rebuild.',
    fix: 'REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index on the view).',
  },
  {
    code: 'RW217',
    rule: 'set-tablespace',
    severity: 'error',
    phase: null,
    engines: ['postgres'],
    summary:
      'ALTER TABLE ... SET TABLESPACE copies the whole table (and rebuilds nothing else) under an ACCESS EXCLUSIVE lock: no reads or writes until done.',
    fix: 'Create new tables in the right tablespace; move a large one outside the migration (pg_repack, or a maintenance window).',
  },
  {
    code: 'RW218',
    rule: 'attach-partition-scan',
    severity: 'error',
    phase: null,
    engines: ['postgres'],
    summary:
      'ALTER TABLE ... ATTACH PARTITION scans the attached table to check the partition bound, holding an ACCESS EXCLUSIVE lock on it. A warning only when a validated CHECK on that table comes first (PostgreSQL then skips the scan if the CHECK implies the bound).',
    fix: 'Add a CHECK matching the bound NOT VALID, VALIDATE it (in an earlier migration), then ATTACH PARTITION, then drop the CHECK.',
  },
  {
    code: 'RW219',
    rule: 'alter-domain-add-constraint',
    severity: 'error',
    phase: null,
    engines: ['postgres'],
    summary:
      'ALTER DOMAIN ... ADD CONSTRAINT checks every column of that domain in every table, blocking writes to them while it scans.',
    fix: 'ADD CONSTRAINT ... NOT VALID, then ALTER DOMAIN ... VALIDATE CONSTRAINT in a later migration.',
  },
  {
    code: 'RW301',
    rule: 'missing-down',
    severity: 'error',
    phase: null,
    engines: ALL,
    summary: 'The up file has no NNNN_name.down.sql: the migration cannot be rolled back.',
    fix: "Write NNNN_name.down.sql undoing the up file's statements in reverse order.",
  },
  {
    code: 'RW302',
    rule: 'phase-mismatch',
    severity: 'error',
    phase: null,
    engines: ALL,
    summary:
      'Declared `rewind:phase expand` but a statement is contract (error); or declared contract while every statement is expand (warning: allowed, the author may know the app breaks).',
    fix: 'Move the contract statements to a later migration declared `-- rewind:phase contract`, or correct the directive.',
  },
  {
    code: 'RW303',
    rule: 'mixed-phases',
    severity: 'error',
    phase: null,
    engines: ALL,
    summary:
      'One file holds both expand statements (needed before the new revision starts) and contract statements (only safe after the rollout).',
    fix: 'Split it: the expand statements in one migration, the contract statements in a later one.',
  },
  {
    code: 'RW304',
    rule: 'mysql-ddl-non-transactional',
    severity: 'warning',
    phase: null,
    engines: ['mysql'],
    summary:
      'More than one DDL statement in a MySQL migration: each commits on its own, so a failure half-way leaves the first ones applied.',
    fix: 'One DDL statement per migration; otherwise write the down file to undo the up statements in reverse order, one down statement per up statement.',
  },
  {
    code: 'RW305',
    rule: 'down-statement-count-mismatch',
    severity: 'warning',
    phase: null,
    engines: ['mysql'],
    summary:
      'MySQL: the down file has a different number of statements than the up file, so a partly applied up file cannot be undone step by step.',
    fix: 'Write one down statement per up statement, undoing them in reverse order.',
  },
  {
    code: 'RW306',
    rule: 'transaction-control',
    severity: 'error',
    phase: null,
    engines: ALL,
    summary:
      'BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK, SAVEPOINT or RELEASE in a migration: it ends the transaction Rewind runs the migration in, so a later failure leaves the committed part applied while Rewind believes it rolled back. The migrator refuses such a file.',
    fix: 'Remove the transaction statements: Rewind runs each migration in a transaction of its own (PostgreSQL, SQLite) or statement by statement (MySQL).',
  },
] as const satisfies readonly LintRule[];

export type LintCode = (typeof LINT_RULES)[number]['code'];

const BY_CODE = new Map<string, LintRule>(LINT_RULES.map((r) => [r.code, r]));

export function lintRule(code: LintCode): LintRule {
  return BY_CODE.get(code)!;
}
