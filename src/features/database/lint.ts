// The migration linter: pure functions from a loaded migration to findings and a phase. It reads
// statements with regular expressions over comment-stripped, whitespace-normalised SQL (string
// literals blanked, quoted identifiers kept), which recognises the shapes that break a running
// revision or lock a busy table on every engine. On PostgreSQL the server's own parser
// (pg-ast.ts) adds what patterns cannot see: DO blocks, constraint and index changes, types.
import { type LintCode, lintRule } from './lint-rules.ts';
import { isWidening, type PgNote, type PgStatement, type PgType, parsePgStatement } from './pg-ast.ts';
import { normalizeTableName, scanSql, unquoteIdentifier } from './sql-split.ts';
import type {
  DatabaseEngineName,
  LintFinding,
  LintSeverity,
  Migration,
  MigrationLint,
  MigrationPhase,
} from './types.ts';

export { LINT_RULES, type LintCode, type LintRule, lintRule } from './lint-rules.ts';

export function lintMigrations(ms: readonly Migration[], engine: DatabaseEngineName): MigrationLint[] {
  return ms.map((m) => lintMigration(m, engine, ms));
}

/**
 * `folder`: the app's migrations (this one among them): the earlier ones tell which type a
 * column has, so that widening a varchar is not taken for a rewrite (PostgreSQL).
 */
export function lintMigration(
  m: Migration,
  engine: DatabaseEngineName,
  folder: readonly Migration[] = [],
): MigrationLint {
  const statements = m.upStatements.map((s) => ({
    ...s,
    text: normalizeSql(s.sql, engine),
    pg: engine === 'postgres' ? parsePgStatement(s.sql) : null,
  }));
  const created = new Set<string>();
  const added = new Set<string>(); // `table.column` added by this migration
  for (const s of statements) collectNew(s.text, created, added);
  const types =
    engine === 'postgres' ? columnTypes(folder.filter((x) => x.id < m.id)) : new Map<string, PgType>();
  const ownConstraints = new Set(
    statements.flatMap((s) =>
      (s.pg?.notes ?? []).flatMap((n) => (n.kind === 'addConstraint' && n.name ? [n.name] : [])),
    ),
  );
  const ownIndexes = new Set(
    statements.flatMap((s) => {
      const ci = /^CREATE (?:UNIQUE )?INDEX (?:CONCURRENTLY )?(?:IF NOT EXISTS )?(\S+)/i.exec(s.text);
      return ci ? [normalizeTableName(ci[1]!)] : [];
    }),
  );
  // What the PostgreSQL parser reads in the earlier migrations and in the down file.
  const pg = engine === 'postgres';
  const notNullChecks = validatedNotNullChecks(pg ? folder.filter((x) => x.id < m.id) : []);
  const down = downFacts(pg ? m.downStatements : []);
  const altered = new Set<string>();
  const updates: { table: string; line: number }[] = [];

  const findings: LintFinding[] = [];
  const touched = new Set<string>();
  const expandLines: number[] = [];
  const contractLines: number[] = [];
  const ddlLines: number[] = [];
  for (const s of statements) {
    const ctx = { created, added, alone: statements.length === 1 };
    const facts = inspectStatement(s.text, engine, ctx);
    if (s.pg) {
      const pctx = { ...ctx, types, ownConstraints, ownIndexes, notNullChecks, down };
      parsedFacts(s.pg, facts, pctx);
      // A DO block runs its statements now: they count as this statement's own.
      for (const inner of s.pg.embedded) {
        const f = inspectStatement(normalizeSql(inner, engine), engine, ctx);
        const parsed = parsePgStatement(inner);
        if (parsed) parsedFacts(parsed, f, pctx);
        facts.hits.push(...f.hits.map((h) => ({ ...h, message: `in a DO block: ${h.message}` })));
        facts.tables.push(...f.tables);
        if (f.ddl) facts.ddl = true;
      }
    }
    if (/^ALTER TABLE\b/i.test(s.text)) for (const t of facts.tables) altered.add(t);
    const update = /^UPDATE (?:ONLY )?(\S+)/i.exec(s.text);
    if (update) updates.push({ table: normalizeTableName(update[1]!), line: s.line });
    for (const t of facts.tables) touched.add(t);
    if (facts.ddl) ddlLines.push(s.line);
    const contract = facts.hits.some((h) => lintRule(h.code).phase === 'contract');
    if (contract) contractLines.push(s.line);
    else if (facts.expand) expandLines.push(s.line);
    for (const h of facts.hits) {
      // A file declared contract runs after the bake, once no revision that reads what it removes
      // serves: its destructive statements are the point, reported as warnings to review.
      const acknowledged = m.declaredPhase === 'contract' && lintRule(h.code).phase === 'contract';
      findings.push(finding(m, acknowledged ? { ...h, severity: 'warning' } : h, m.upPath, s.line));
    }
  }

  // PostgreSQL and SQLite run the file in one transaction: a backfill there holds the DDL's lock.
  if (engine !== 'mysql') {
    for (const u of updates.filter((u) => altered.has(u.table) && !created.has(u.table))) {
      findings.push(
        finding(
          m,
          {
            code: 'RW214',
            message: `updates rows of ${u.table} in the same transaction as a schema change to it: the exclusive lock of the ALTER is held until the backfill ends`,
          },
          m.upPath,
          u.line,
        ),
      );
    }
  }

  const phase: MigrationPhase = contractLines.length > 0 ? 'contract' : 'expand';
  findings.push(...fileFindings(m, engine, { phase, expandLines, contractLines, ddlLines }));
  findings.sort(
    (a, b) => fileOrder(m, a) - fileOrder(m, b) || a.line - b.line || a.code.localeCompare(b.code),
  );
  return {
    migration: m.key,
    phase,
    declaredPhase: m.declaredPhase,
    effectivePhase: m.declaredPhase ?? phase,
    touchedTables: [...touched],
    findings,
  };
}

interface Hit {
  readonly code: LintCode;
  readonly message: string;
  readonly severity?: LintSeverity;
  readonly fix?: string;
}

interface Context {
  /** Tables this migration creates: nobody runs against them yet, so nothing breaks or waits. */
  readonly created: ReadonlySet<string>;
  readonly added: ReadonlySet<string>;
  /** The statement is the migration's only one. */
  readonly alone: boolean;
}

interface StatementFacts {
  readonly hits: Hit[];
  readonly tables: string[];
  /** Schema DDL that adds or changes (CREATE / ALTER); counts as expand unless a hit says contract. */
  expand: boolean;
  /** CREATE / ALTER / DROP / RENAME / TRUNCATE: MySQL commits each on its own. */
  ddl: boolean;
}

function finding(m: Migration, h: Hit, file: string, line: number): LintFinding {
  const rule = lintRule(h.code);
  return {
    code: rule.code,
    rule: rule.rule,
    severity: h.severity ?? rule.severity,
    migration: m.key,
    file,
    line,
    message: h.message,
    fix: h.fix ?? rule.fix,
  };
}

function fileOrder(m: Migration, f: LintFinding): number {
  return f.file === m.upPath ? 0 : 1;
}

// --- normalising --------------------------------------------------------------------------------

/** Comments dropped, string literals blanked to '', whitespace collapsed; identifiers as written. */
export function normalizeSql(sql: string, engine: DatabaseEngineName): string {
  let out = '';
  let code = ''; // code and comments since the last literal, collapsed together
  const flush = () => {
    out += code.replace(/\s+/g, ' ');
    code = '';
  };
  for (const r of scanSql(sql, engine)) {
    if (r.kind === 'comment') code += ' ';
    else if (r.kind === 'code') code += sql.slice(r.start, r.end);
    else {
      flush();
      out += r.kind === 'string' ? "''" : sql.slice(r.start, r.end);
    }
  }
  flush();
  return out.trim();
}

const ID = String.raw`(?:"(?:[^"]|"")+"|\x60(?:[^\x60]|\x60\x60)+\x60|\[[^\]]+\]|[\p{L}_][\p{L}\p{N}_$]*)`;
const Q = String.raw`${ID}(?: ?\. ?${ID}){0,2}`;
// Words that follow ADD / DROP / RENAME / ALTER in an ALTER TABLE action when it is not a column.
const COL = String.raw`(?!(?:CONSTRAINT|INDEX|KEY|PRIMARY|FOREIGN|CHECK|UNIQUE|FULLTEXT|SPATIAL|PARTITION|EXCLUDE)\b)({ID})`;

function rx(source: string): RegExp {
  return new RegExp(
    source
      .replaceAll('{COL}', () => COL)
      .replaceAll('{ID}', () => ID)
      .replaceAll('{Q}', () => Q),
    'iu',
  );
}

const CREATE_TABLE = rx(
  '^CREATE (?:OR REPLACE )?(?:(?:GLOBAL|LOCAL) )?(?:(?:TEMP|TEMPORARY|UNLOGGED) )?TABLE (?:IF NOT EXISTS )?({Q})',
);
const CREATE_INDEX = rx(
  String.raw`^CREATE (?:UNIQUE |FULLTEXT |SPATIAL )?INDEX (CONCURRENTLY )?(?:IF NOT EXISTS )?(?:(?!ON )(?:{Q}) )?(?:USING \w+ )?ON (?:ONLY )?({Q})`,
);
const ALTER_TABLE = rx(
  String.raw`^ALTER (?:IGNORE )?TABLE (?:IF EXISTS )?(?:ONLY )?({Q})(?: ?\*)?(?: (.*))?$`,
);
const DROP_TABLE = rx('^DROP (?:TEMPORARY )?TABLE (?:IF EXISTS )?(.+?)(?: (?:CASCADE|RESTRICT))?$');
const DROP_OBJECT = rx(
  String.raw`^DROP (MATERIALIZED VIEW|VIEW|FUNCTION|PROCEDURE|TYPE|DOMAIN|SEQUENCE|SCHEMA|DATABASE|TRIGGER|EXTENSION)\b(?: IF EXISTS)? ?(.*)$`,
);
const RENAME_TABLE = rx('^RENAME TABLES? (.+)$');
const RENAME_PAIR = rx('^({Q}) TO ({Q})$');
const TRUNCATE = rx(
  '^TRUNCATE (?:TABLE )?(.+?)(?: (?:RESTART|CONTINUE) IDENTITY)?(?: (?:CASCADE|RESTRICT))?$',
);
const DELETE = rx(String.raw`^DELETE (?:(?:LOW_PRIORITY|QUICK|IGNORE) )*FROM (?:ONLY )?({Q})(?: ?\*)?(.*)$`);
const UPDATE = rx(
  String.raw`^UPDATE (?:(?:LOW_PRIORITY|IGNORE|OR \w+) )*(?:ONLY )?({Q})(?: ?\*)?(?: (?:AS )?(?!SET\b){ID})? SET (.*)$`,
);
const INSERT = rx(
  String.raw`^(?:INSERT|REPLACE) (?:(?:LOW_PRIORITY|DELAYED|HIGH_PRIORITY|IGNORE|OR \w+) )*INTO ({Q})`,
);
const LOCK = rx('^LOCK (?:TABLES? )?(?:ONLY )?({Q})');
const WHERE = /\bWHERE\b/i;
// A MariaDB `BEGIN NOT ATOMIC` block and a PostgreSQL `BEGIN ATOMIC` body are not transactions.
const TRANSACTION_CONTROL =
  /^(?:BEGIN(?! (?:NOT )?ATOMIC\b)(?: (?:WORK|TRANSACTION|ISOLATION|READ|DEFERRABLE|NOT DEFERRABLE)\b.*)?|START TRANSACTION\b.*|COMMIT\b.*|END(?: (?:WORK|TRANSACTION))?|ROLLBACK\b.*|ABORT\b.*|SAVEPOINT\b.*|RELEASE(?: SAVEPOINT)?\b.*|SET AUTOCOMMIT\b.*)$/i;
const CONCURRENTLY = /\bCONCURRENTLY\b/i;
const MYSQL_BLOCKING_INDEX =
  /\b(?:FULLTEXT|SPATIAL)\b|\bALGORITHM ?= ?COPY\b|\bLOCK ?= ?(?:SHARED|EXCLUSIVE)\b/i;
const MYSQL_ONLINE =
  /\bALGORITHM ?= ?(?:INPLACE|INSTANT)\b.*\bLOCK ?= ?NONE\b|\bLOCK ?= ?NONE\b.*\bALGORITHM ?= ?(?:INPLACE|INSTANT)\b/i;

function collectNew(text: string, created: Set<string>, added: Set<string>): void {
  const ct = CREATE_TABLE.exec(text);
  if (ct) created.add(normalizeTableName(ct[1]!));
  const at = ALTER_TABLE.exec(text);
  if (!at) return;
  const table = normalizeTableName(at[1]!);
  for (const action of splitTopLevel(at[2] ?? '')) {
    const col = parseAddColumn(action);
    if (col) added.add(`${table}.${col.column}`);
  }
}

// --- one statement --------------------------------------------------------------------------------

/** What a recognised statement shape adds to the facts; `m` is its regex match. */
type StatementShape = (m: RegExpExecArray, s: StatementInput) => void;

interface StatementInput {
  readonly text: string;
  readonly engine: DatabaseEngineName;
  readonly ctx: Context;
  readonly facts: StatementFacts;
}

/** First match wins; a statement matching none only counts for its phase and DDL-ness. */
const STATEMENT_SHAPES: readonly (readonly [RegExp, StatementShape])[] = [
  [CREATE_TABLE, (m, s) => s.facts.tables.push(normalizeTableName(m[1]!))],
  [
    CREATE_INDEX,
    (m, s) => {
      const table = normalizeTableName(m[2]!);
      s.facts.tables.push(table);
      if (!s.ctx.created.has(table)) indexHit(s, table, Boolean(m[1]));
    },
  ],
  [
    ALTER_TABLE,
    (m, s) => {
      const table = normalizeTableName(m[1]!);
      s.facts.tables.push(table);
      if (s.ctx.created.has(table)) return;
      for (const action of splitTopLevel(m[2] ?? '')) inspectAlterAction(action, table, s);
    },
  ],
  [
    DROP_TABLE,
    (m, s) => {
      const names = tableList(m[1]!);
      s.facts.tables.push(...names);
      const old = names.filter((t) => !s.ctx.created.has(t));
      if (old.length === 0) return;
      s.facts.hits.push({
        code: 'RW101',
        message: `drops table ${old.join(', ')}; the running revision may still use it and rollback cannot restore the rows`,
      });
    },
  ],
  [
    DROP_OBJECT,
    (m, s) => {
      const name = /^\S+/.exec(m[2] ?? '')?.[0] ?? '';
      s.facts.hits.push({
        code: 'RW111',
        message: `drops ${`${m[1]!.toLowerCase()} ${name}`.trimEnd()}; the running revision may depend on it`,
      });
    },
  ],
  [
    RENAME_TABLE,
    (m, s) => {
      for (const pair of splitTopLevel(m[1]!)) {
        const p = RENAME_PAIR.exec(pair);
        if (!p) continue;
        const [from, to] = [normalizeTableName(p[1]!), normalizeTableName(p[2]!)];
        s.facts.tables.push(from, to);
        if (!s.ctx.created.has(from)) s.facts.hits.push(renameTable(from, to));
      }
    },
  ],
  [
    TRUNCATE,
    (m, s) => {
      const names = tableList(m[1]!);
      s.facts.tables.push(...names);
      const old = names.filter((t) => !s.ctx.created.has(t));
      if (old.length > 0)
        s.facts.hits.push({ code: 'RW109', message: `truncates ${old.join(', ')}: every row is deleted` });
    },
  ],
  [
    DELETE,
    (m, s) => {
      const table = normalizeTableName(m[1]!);
      s.facts.tables.push(table);
      if (WHERE.test(outsideParens(m[2]!)) || s.ctx.created.has(table)) return;
      s.facts.hits.push({ code: 'RW109', message: `deletes every row of ${table} (DELETE without WHERE)` });
    },
  ],
  [
    UPDATE,
    (m, s) => {
      const table = normalizeTableName(m[1]!);
      s.facts.tables.push(table);
      if (WHERE.test(outsideParens(m[2]!)) || s.ctx.created.has(table)) return;
      const targets = setTargets(m[2]!);
      // Filling a column this migration adds is a backfill, not an overwrite.
      if (targets?.every((c) => s.ctx.added.has(`${table}.${c}`))) return;
      s.facts.hits.push({
        code: 'RW110',
        message: `overwrites every row of ${table} (UPDATE without WHERE)`,
      });
    },
  ],
  [INSERT, (m, s) => s.facts.tables.push(normalizeTableName(m[1]!))],
  [
    LOCK,
    (m, s) =>
      s.facts.hits.push({
        code: 'RW206',
        message: `locks ${normalizeTableName(m[1]!)}; the running revision waits until the migration ends`,
      }),
  ],
];

function inspectStatement(text: string, engine: DatabaseEngineName, ctx: Context): StatementFacts {
  const keyword = /^\w+/.exec(text)?.[0]?.toUpperCase() ?? '';
  const facts: StatementFacts = {
    hits: [],
    tables: [],
    expand: keyword === 'CREATE' || keyword === 'ALTER',
    ddl: ['CREATE', 'ALTER', 'DROP', 'RENAME', 'TRUNCATE'].includes(keyword),
  };
  const control = TRANSACTION_CONTROL.exec(text);
  if (control) {
    facts.hits.push({
      code: 'RW306',
      message: `${control[0].toUpperCase()} controls the transaction Rewind runs the migration in`,
    });
  }
  if (engine === 'postgres' && CONCURRENTLY.test(text) && !ctx.alone) {
    facts.hits.push({
      code: 'RW207',
      message:
        "this CONCURRENTLY statement cannot run inside the migration's transaction; if another statement of the file fails, it stays applied",
    });
  }
  const input: StatementInput = { text, engine, ctx, facts };
  for (const [re, shape] of STATEMENT_SHAPES) {
    const m = re.exec(text);
    if (m) {
      shape(m, input);
      break;
    }
  }
  return facts;
}

interface ParsedContext extends Context {
  /** `table.column` -> type, from the earlier migrations of the folder. */
  readonly types: ReadonlyMap<string, PgType>;
  /** Constraint and index names this migration creates: changing them again is its own business. */
  readonly ownConstraints: ReadonlySet<string>;
  readonly ownIndexes: ReadonlySet<string>;
  /** CHECK (col IS NOT NULL) constraints so far (earlier migrations, then this file in order). */
  readonly notNullChecks: NotNullChecks;
  /** What the down file does that makes a DROP NOT NULL / DROP CONSTRAINT undoable. */
  readonly down: DownFacts;
}

interface NotNullChecks {
  /** Constraint name -> `table.column`, added NOT VALID and not validated yet. */
  readonly pending: Map<string, string>;
  /** `table.column` with a valid CHECK (col IS NOT NULL): SET NOT NULL does not scan. */
  readonly valid: Set<string>;
  /** `table.constraint` of any CHECK added NOT VALID and not validated yet. */
  readonly pendingChecks: Set<string>;
  /** Tables with a valid CHECK of any kind: ATTACH PARTITION may skip its scan. */
  readonly checkedTables: Set<string>;
}

interface DownFacts {
  /** `table.column` the down file's UPDATEs set. */
  readonly backfilled: ReadonlySet<string>;
  /** `table.constraint` the down file adds NOT VALID. */
  readonly readded: ReadonlySet<string>;
}

/** Adds what the PostgreSQL parser sees to a statement's facts (rules the patterns cannot see). */
function parsedFacts(pg: PgStatement, facts: StatementFacts, ctx: ParsedContext): void {
  const hits = facts.hits;
  const existing = (table: string) => !ctx.created.has(table);
  let helperOnly = pg.notes.length > 0;
  for (const n of pg.notes) {
    const helper =
      (n.kind === 'addConstraint' && n.notValid) ||
      n.kind === 'validateConstraint' ||
      n.kind === 'dropConstraint';
    if (!helper) helperOnly = false;
    switch (n.kind) {
      case 'dropIndex':
        if (!n.concurrently && !n.names.every((i) => ctx.ownIndexes.has(normalizeTableName(i))))
          hits.push({
            code: 'RW208',
            message: `drops index ${n.names.join(', ')} without CONCURRENTLY, blocking reads and writes of its table`,
          });
        break;
      case 'dropNotNull':
        if (!existing(n.table)) break;
        hits.push(
          ctx.down.backfilled.has(`${n.table}.${n.column}`)
            ? {
                code: 'RW112',
                severity: 'warning',
                message: `drops NOT NULL on ${n.table}.${n.column}; the down file backfills it before its SET NOT NULL, but the running revision may not expect NULLs`,
              }
            : {
                code: 'RW112',
                message: `drops NOT NULL on ${n.table}.${n.column}: once NULLs are written, the down migration's SET NOT NULL fails (the down file does not backfill ${n.column}) and the running revision may not expect them`,
              },
        );
        break;
      case 'dropConstraint':
        if (!existing(n.table) || ctx.ownConstraints.has(n.name)) break;
        hits.push(
          ctx.down.readded.has(`${n.table}.${n.name}`)
            ? {
                code: 'RW113',
                severity: 'warning',
                message: `drops constraint ${n.name} of ${n.table}; rows that break it can be written from now on (the down file re-adds it NOT VALID)`,
              }
            : {
                code: 'RW113',
                message: `drops constraint ${n.name} of ${n.table}: rows that break it can be written from now on, and a down migration re-adding it then fails (re-add it NOT VALID in the down file)`,
              },
        );
        break;
      case 'validateConstraint':
        noteNotNullCheck(n, ctx.notNullChecks);
        break;
      case 'setNotNull': {
        const at = hits.findIndex((h) => h.code === 'RW107');
        if (at !== -1 && ctx.notNullChecks.valid.has(`${n.table}.${n.column}`))
          hits[at] = {
            code: 'RW107',
            severity: 'warning',
            message: `sets ${n.table}.${n.column} NOT NULL after a validated CHECK (${n.column} IS NOT NULL): no scan, but the running revision may still insert NULLs`,
          };
        break;
      }
      case 'addConstraint':
        noteNotNullCheck(n, ctx.notNullChecks);
        if (n.type === 'CONSTR_EXCLUSION' && existing(n.table))
          hits.push({
            code: 'RW209',
            message: `adds exclusion constraint ${n.name ?? ''} to ${n.table}: builds its index and checks every row under an ACCESS EXCLUSIVE lock (an exclusion constraint cannot be NOT VALID)`,
          });
        break;
      case 'vacuumFull':
        hits.push({
          code: 'RW210',
          message: `VACUUM FULL rewrites ${n.tables.join(', ') || 'every table'} under an ACCESS EXCLUSIVE lock`,
        });
        break;
      case 'reindex':
        if (!n.concurrently)
          hits.push({
            code: 'RW211',
            message: `REINDEX of ${n.target} without CONCURRENTLY blocks writes (and reads using the index) until done`,
          });
        break;
      case 'cluster':
        hits.push({
          code: 'RW212',
          message: `CLUSTER rewrites ${n.table || 'the clustered tables'} under an ACCESS EXCLUSIVE lock`,
        });
        break;
      case 'column': {
        if (n.type.name === 'json')
          hits.push({
            code: 'RW213',
            message: `column ${n.table}.${n.column} is json: no equality operator (DISTINCT, GROUP BY, UNION fail), re-parsed on every read`,
          });
        // The patterns see a volatile call at the start of the DEFAULT; the parser sees it anywhere.
        const volatile = n.defaultCalls.find((f) => VOLATILE_FUNCTIONS.has(f));
        if (n.added && volatile && existing(n.table) && !hits.some((h) => h.code === 'RW202'))
          hits.push({
            code: 'RW202',
            message: `adds ${n.table}.${n.column} with a default that calls ${volatile}(), a per-row value: rewrites the whole table under an exclusive lock`,
          });
        break;
      }
      case 'setLogged':
        if (existing(n.table))
          hits.push({
            code: 'RW215',
            message: `SET ${n.logged ? 'LOGGED' : 'UNLOGGED'} rewrites ${n.table} under an ACCESS EXCLUSIVE lock`,
          });
        break;
      case 'setTablespace':
        if (existing(n.table))
          hits.push({
            code: 'RW217',
            message: `SET TABLESPACE ${n.tablespace} copies ${n.table} to the new tablespace under an ACCESS EXCLUSIVE lock`,
          });
        break;
      case 'attachPartition':
        hits.push(
          ctx.notNullChecks.checkedTables.has(n.partition)
            ? {
                code: 'RW218',
                severity: 'warning',
                message: `attaches ${n.partition} to ${n.table} after a validated CHECK on ${n.partition}: no scan if that CHECK implies the partition bound (check that it does)`,
              }
            : {
                code: 'RW218',
                message: `attaches ${n.partition} to ${n.table}: scans every row of ${n.partition} under an ACCESS EXCLUSIVE lock on it to check the partition bound`,
              },
        );
        break;
      case 'domainConstraint':
        if (!n.notValid)
          hits.push({
            code: 'RW219',
            message: `adds a constraint to domain ${n.domain}: checks every column of that domain in every table, under locks that block writes to them`,
          });
        break;
      case 'refreshMatView':
        if (!n.concurrently)
          hits.push({
            code: 'RW216',
            message: `REFRESH MATERIALIZED VIEW ${n.view} without CONCURRENTLY blocks every read of the view until it is rebuilt`,
          });
        break;
      case 'dropSchemaCascade': {
        const at = hits.findIndex((h) => h.code === 'RW111');
        const hit: Hit = {
          code: 'RW101',
          message: `drops schema ${n.names.join(', ')} with CASCADE: every table in it goes, and rollback cannot restore the rows`,
        };
        if (at === -1) hits.push(hit);
        else hits[at] = hit;
        break;
      }
      case 'typeChange': {
        if (n.type.name === 'json')
          hits.push({
            code: 'RW213',
            message: `column ${n.table}.${n.column} becomes json: no equality operator, re-parsed on every read`,
          });
        const before = ctx.types.get(`${n.table}.${n.column}`);
        const at = hits.findIndex((h) => h.code === 'RW105');
        if (at === -1) break;
        if (n.using === 'expression')
          hits[at] = {
            code: 'RW105',
            message: `changes ${n.column} with a USING expression, which rewrites ${n.table} under lock whatever the type`,
          };
        else if (before && isWidening(before, n.type)) hits.splice(at, 1);
        else if (!before && ['varchar', 'text', 'numeric'].includes(n.type.name))
          hits[at] = {
            ...hits[at]!,
            severity: 'warning',
            message: `changes the type of ${n.column} to ${n.type.name}${n.type.mods.length ? `(${n.type.mods.join(', ')})` : ''}; Rewind cannot see its current type in the earlier migrations: widening a varchar or numeric is safe, anything else rewrites the table under lock`,
          };
        break;
      }
    }
  }
  // ADD CONSTRAINT ... NOT VALID, VALIDATE, DROP CONSTRAINT: the helpers of a SET NOT NULL (RW107's
  // fix), neither expand nor contract on their own.
  if (helperOnly) facts.expand = false;
}

/** Functions whose value differs per row: as a column default they make PostgreSQL rewrite the table. */
const VOLATILE_FUNCTIONS = new Set([
  'random',
  'gen_random_uuid',
  'uuid_generate_v1',
  'uuid_generate_v1mc',
  'uuid_generate_v4',
  'clock_timestamp',
  'timeofday',
  'nextval',
  'txid_current',
]);
const VOLATILE_DEFAULT = new RegExp(
  String.raw`\bDEFAULT \(?(?:(?:public|pg_catalog)\.)?(?:${[...VOLATILE_FUNCTIONS].join('|')})\b`,
  'i',
);

/** Follows a CHECK (col IS NOT NULL) from its ADD CONSTRAINT (NOT VALID or not) to its VALIDATE. */
function noteNotNullCheck(
  n: Extract<PgNote, { kind: 'addConstraint' | 'validateConstraint' }>,
  checks: NotNullChecks,
): void {
  if (n.kind === 'validateConstraint') {
    const column = checks.pending.get(n.name);
    if (column) checks.valid.add(column);
    if (checks.pendingChecks.delete(`${n.table}.${n.name}`)) checks.checkedTables.add(n.table);
    return;
  }
  if (n.type === 'CONSTR_CHECK') {
    if (!n.notValid) checks.checkedTables.add(n.table);
    else if (n.name) checks.pendingChecks.add(`${n.table}.${n.name}`);
  }
  if (!n.notNullColumn) return;
  const column = `${n.table}.${n.notNullColumn}`;
  if (!n.notValid) checks.valid.add(column);
  else if (n.name) checks.pending.set(n.name, column);
}

/** The CHECK (col IS NOT NULL) constraints the earlier migrations `ms` add and validate. */
function validatedNotNullChecks(ms: readonly Migration[]): NotNullChecks {
  const checks: NotNullChecks = {
    pending: new Map(),
    valid: new Set(),
    pendingChecks: new Set(),
    checkedTables: new Set(),
  };
  for (const m of [...ms].sort((a, b) => a.id - b.id))
    for (const st of m.upStatements)
      for (const n of parsePgStatement(st.sql)?.notes ?? [])
        if (n.kind === 'addConstraint' || n.kind === 'validateConstraint') noteNotNullCheck(n, checks);
  return checks;
}

function downFacts(statements: Migration['downStatements']): DownFacts {
  const backfilled = new Set<string>();
  const readded = new Set<string>();
  for (const st of statements)
    for (const n of parsePgStatement(st.sql)?.notes ?? []) {
      if (n.kind === 'update') for (const c of n.columns) backfilled.add(`${n.table}.${c.toLowerCase()}`);
      if (n.kind === 'addConstraint' && n.notValid && n.name) readded.add(`${n.table}.${n.name}`);
    }
  return { backfilled, readded };
}

/** `table.column` -> its latest type, from the CREATE TABLE / ADD COLUMN / ALTER TYPE of `ms`. */
function columnTypes(ms: readonly Migration[]): Map<string, PgType> {
  const out = new Map<string, PgType>();
  for (const m of [...ms].sort((a, b) => a.id - b.id))
    for (const st of m.upStatements)
      for (const n of parsePgStatement(st.sql)?.notes ?? [])
        if (n.kind === 'column' || n.kind === 'typeChange') out.set(`${n.table}.${n.column}`, n.type);
  return out;
}

function indexHit(s: StatementInput, table: string, concurrently: boolean): void {
  if (s.engine === 'postgres' && !concurrently) {
    s.facts.hits.push({
      code: 'RW201',
      message: `builds an index on ${table} without CONCURRENTLY, blocking writes to it until done. CREATE INDEX CONCURRENTLY cannot run inside a transaction: give it a migration of its own`,
      fix: 'CREATE INDEX CONCURRENTLY ..., alone in its migration (and DROP INDEX CONCURRENTLY in the down file).',
    });
  } else if (s.engine === 'mysql' && MYSQL_BLOCKING_INDEX.test(s.text) && !MYSQL_ONLINE.test(s.text)) {
    // InnoDB builds a plain secondary index online (in place, no lock) by default; FULLTEXT and
    // SPATIAL indexes, ALGORITHM=COPY and LOCK=SHARED/EXCLUSIVE block writes.
    s.facts.hits.push({
      code: 'RW201',
      message: `builds an index on ${table} in a way that blocks writes to it (FULLTEXT/SPATIAL, ALGORITHM=COPY or LOCK=SHARED/EXCLUSIVE)`,
      fix: 'A plain secondary index with ALGORITHM=INPLACE, LOCK=NONE (e.g. CREATE INDEX i ON t (c) ALGORITHM=INPLACE LOCK=NONE), so MySQL refuses instead of blocking writes.',
    });
  }
}

function renameTable(from: string, to: string): Hit {
  return { code: 'RW103', message: `renames table ${from} to ${to}; the running revision queries ${from}` };
}

function renameColumn(table: string, from: string, to: string): Hit {
  return {
    code: 'RW104',
    message: `renames column ${table}.${from} to ${to}; the running revision uses ${from}`,
  };
}

const ADD_CONSTRAINT = rx(
  String.raw`^ADD (?:CONSTRAINT {ID} )?(FOREIGN KEY|CHECK|UNIQUE|PRIMARY KEY|EXCLUDE)\b(.*)$`,
);
const ADD_MYSQL_INDEX = rx(String.raw`^ADD (?:(?:UNIQUE|FULLTEXT|SPATIAL) )?(?:INDEX|KEY)\b`);
const ADD_COLUMN = rx('^ADD (?:COLUMN )?(?:IF NOT EXISTS )?{COL}(?: (.*))?$');
const DROP_COLUMN = rx('^DROP (?:COLUMN )?(?:IF EXISTS )?{COL}(?: (?:CASCADE|RESTRICT))?$');
const RENAME_TO = rx('^RENAME (?:TO|AS) ({Q})$');
const RENAME_COLUMN = rx('^RENAME (?:COLUMN )?{COL} TO ({ID})$');
const CHANGE_COLUMN = rx('^CHANGE (?:COLUMN )?({ID}) ({ID})');
const MODIFY_COLUMN = rx('^MODIFY (?:COLUMN )?({ID})');
const ALTER_COLUMN = rx('^ALTER (?:COLUMN )?{COL} (.*)$');

function parseAddColumn(action: string): { column: string; definition: string } | null {
  if (ADD_CONSTRAINT.test(action) || ADD_MYSQL_INDEX.test(action)) return null;
  const m = ADD_COLUMN.exec(action);
  return m ? { column: columnName(m[1]!), definition: m[2] ?? '' } : null;
}

type ActionShape = (m: RegExpExecArray, table: string, s: StatementInput) => void;

/** ALTER TABLE actions (the comma-separated parts after the table name); first match wins. */
const ACTION_SHAPES: readonly (readonly [RegExp, ActionShape])[] = [
  [ADD_CONSTRAINT, (m, table, s) => inspectAddConstraint(m[1]!.toUpperCase(), m[2] ?? '', table, s)],
  [ADD_MYSQL_INDEX, (_, table, s) => indexHit(s, table, false)],
  [ADD_COLUMN, (m, table, s) => inspectAddColumn(`${table}.${columnName(m[1]!)}`, m[2] ?? '', s)],
  [
    DROP_COLUMN,
    (m, table, s) =>
      s.facts.hits.push({
        code: 'RW102',
        message: `drops column ${table}.${columnName(m[1]!)}; the running revision still reads and writes it`,
      }),
  ],
  [
    RENAME_TO,
    (m, table, s) => {
      const to = normalizeTableName(m[1]!);
      s.facts.tables.push(to);
      s.facts.hits.push(renameTable(table, to));
    },
  ],
  [
    RENAME_COLUMN,
    (m, table, s) => s.facts.hits.push(renameColumn(table, columnName(m[1]!), columnName(m[2]!))),
  ],
  [
    CHANGE_COLUMN,
    (m, table, s) => {
      const [from, to] = [columnName(m[1]!), columnName(m[2]!)];
      s.facts.hits.push(
        from === to
          ? {
              code: 'RW105',
              message: `redefines column ${table}.${from} (CHANGE COLUMN), rebuilding the table`,
            }
          : renameColumn(table, from, to),
      );
    },
  ],
  [
    MODIFY_COLUMN,
    (m, table, s) =>
      s.facts.hits.push({
        code: 'RW105',
        message: `redefines column ${table}.${columnName(m[1]!)} (MODIFY COLUMN), rebuilding the table`,
      }),
  ],
  [ALTER_COLUMN, (m, table, s) => inspectAlterColumn(`${table}.${columnName(m[1]!)}`, m[2]!, s)],
];

function inspectAlterAction(action: string, table: string, s: StatementInput): void {
  for (const [re, shape] of ACTION_SHAPES) {
    const m = re.exec(action);
    if (m) {
      shape(m, table, s);
      return;
    }
  }
}

function inspectAddConstraint(kind: string, rest: string, table: string, s: StatementInput): void {
  const hits = s.facts.hits;
  if (s.engine === 'mysql' && (kind === 'UNIQUE' || kind === 'PRIMARY KEY')) {
    indexHit(s, table, false);
  }
  if (s.engine !== 'postgres') return;
  if (kind === 'FOREIGN KEY' && !/\bNOT VALID\b/i.test(rest)) {
    hits.push({
      code: 'RW203',
      message: `adds a foreign key on ${table} that checks every row while blocking writes`,
    });
  } else if (kind === 'CHECK' && !/\bNOT VALID\b/i.test(rest)) {
    hits.push({
      code: 'RW204',
      message: `adds a CHECK on ${table} that scans every row under an exclusive lock`,
    });
  } else if ((kind === 'UNIQUE' || kind === 'PRIMARY KEY') && !/\bUSING INDEX\b/i.test(rest)) {
    hits.push({
      code: 'RW205',
      message: `adds ${kind} on ${table}, building its index under an exclusive lock`,
    });
  }
}

function inspectAlterColumn(column: string, change: string, s: StatementInput): void {
  const hits = s.facts.hits;
  if (/^(?:SET DATA )?TYPE\b/i.test(change)) {
    hits.push({ code: 'RW105', message: `changes the type of ${column}, rewriting the table under lock` });
  } else if (/^SET NOT NULL\b/i.test(change)) {
    hits.push({
      code: 'RW107',
      message: `sets ${column} NOT NULL: the table is scanned under an exclusive lock and the running revision may still insert NULLs`,
      ...(s.engine === 'postgres'
        ? {}
        : { fix: 'Backfill the column, and set NOT NULL only once every running revision writes it.' }),
    });
  } else if (/^DROP DEFAULT\b/i.test(change)) {
    hits.push({
      code: 'RW108',
      message: `drops the default of ${column}; the running revision's inserts may rely on it`,
    });
  }
}

function inspectAddColumn(column: string, definition: string, s: StatementInput): void {
  const hits = s.facts.hits;
  const has = (re: RegExp) => re.test(definition);
  const serial = has(/^(?:small|big)?serial[248]?\b/i);
  const generated = serial || has(/\bGENERATED\b/i) || has(/\bAUTO_?INCREMENT\b/i);
  const notNull = has(/\bNOT NULL\b/i) || has(/\bPRIMARY KEY\b/i);
  if (notNull && !has(/\bDEFAULT\b/i) && !generated) {
    hits.push({
      code: 'RW106',
      message: `adds ${column} NOT NULL without a DEFAULT: fails on existing rows, and the running revision's inserts do not set it`,
    });
  }
  if (s.engine !== 'postgres') return;
  const volatile = serial || has(/\bGENERATED\b.*\b(?:IDENTITY|STORED)\b/i) || has(VOLATILE_DEFAULT);
  if (volatile) {
    hits.push({
      code: 'RW202',
      message: `adds ${column} with a per-row value, rewriting the whole table under an exclusive lock`,
    });
  }
  if (has(/\bREFERENCES\b/i)) {
    hits.push({
      code: 'RW203',
      message: `adds ${column} with REFERENCES, checking the table while blocking writes to both tables`,
      fix: 'Add the column without REFERENCES; then ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID; then VALIDATE CONSTRAINT as a separate statement.',
    });
  }
  if (has(/\bCHECK\b/i)) {
    hits.push({
      code: 'RW204',
      message: `adds ${column} with an inline CHECK, scanning the table under an exclusive lock`,
      fix: 'Add the column without CHECK; then ADD CONSTRAINT ... CHECK (...) NOT VALID; then VALIDATE CONSTRAINT as a separate statement.',
    });
  }
  if (has(/\b(?:UNIQUE|PRIMARY KEY)\b/i)) {
    hits.push({
      code: 'RW205',
      message: `adds ${column} with an inline unique index, built under an exclusive lock`,
    });
  }
}

// --- the whole file ------------------------------------------------------------------------------

interface FileFacts {
  readonly phase: MigrationPhase;
  readonly expandLines: readonly number[];
  readonly contractLines: readonly number[];
  readonly ddlLines: readonly number[];
}

function fileFindings(m: Migration, engine: DatabaseEngineName, f: FileFacts): LintFinding[] {
  const out: LintFinding[] = [];
  const firstLine = m.upStatements[0]?.line ?? 1;
  if (m.downPath === null) {
    out.push(
      finding(
        m,
        {
          code: 'RW301',
          message: `${m.key} has no down file, so it cannot be rolled back`,
          fix: `Write ${m.key}.down.sql undoing the up file's statements in reverse order.`,
        },
        m.upPath,
        1,
      ),
    );
  }
  const firstContract = f.contractLines[0];
  if (m.declaredPhase === 'expand' && firstContract !== undefined) {
    out.push(
      finding(
        m,
        {
          code: 'RW302',
          message: `declared rewind:phase expand, but the statement at line ${firstContract} is contract: it would run while the previous revision still serves traffic`,
        },
        m.upPath,
        firstContract,
      ),
    );
  } else if (m.declaredPhase === 'contract' && f.phase === 'expand') {
    out.push(
      finding(
        m,
        {
          code: 'RW302',
          severity: 'warning',
          message:
            'declared rewind:phase contract, but every statement is backward compatible: it will wait until the rollout is complete',
          fix: 'Remove the directive (or declare expand) unless the new revision really depends on running after the rollout.',
        },
        m.upPath,
        directiveLine(m.upSql) ?? firstLine,
      ),
    );
  }
  if (firstContract !== undefined && f.expandLines.length > 0) {
    out.push(
      finding(
        m,
        {
          code: 'RW303',
          message: `mixes expand statements (${lines(f.expandLines)}) with contract statements (${lines(f.contractLines)}); as a contract migration the expand part would run only after the rollout`,
        },
        m.upPath,
        firstContract,
      ),
    );
  }
  const secondDdl = f.ddlLines[1];
  if (engine === 'mysql' && secondDdl !== undefined) {
    out.push(
      finding(
        m,
        {
          code: 'RW304',
          message: `${f.ddlLines.length} DDL statements (${lines(f.ddlLines)}): MySQL commits each one on its own, so a failure half-way leaves the first ones applied`,
        },
        m.upPath,
        secondDdl,
      ),
    );
  }
  if (engine === 'mysql' && m.downPath !== null && m.downStatements.length !== m.upStatements.length) {
    out.push(
      finding(
        m,
        {
          code: 'RW305',
          message: `the down file has ${m.downStatements.length} statement(s) for the up file's ${m.upStatements.length}`,
        },
        m.downPath,
        m.downStatements[0]?.line ?? 1,
      ),
    );
  }
  return out;
}

function lines(ns: readonly number[]): string {
  const unique = [...new Set(ns)];
  return `${unique.length === 1 ? 'line' : 'lines'} ${unique.join(', ')}`;
}

function directiveLine(sql: string): number | null {
  const index = sql.split(/\r?\n/).findIndex((l) => /^\s*--\s*rewind:phase\b/.test(l));
  return index === -1 ? null : index + 1;
}

// --- small helpers --------------------------------------------------------------------------------

/** Splits on commas outside parentheses and quoted identifiers (strings are already blanked). */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote !== null) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === '`' || c === "'") {
      quote = c;
    } else if (c === '(') {
      depth++;
    } else if (c === ')') {
      depth--;
    } else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts.filter((p) => p !== '');
}

/** `text` with the inside of every parenthesis pair removed: `a (b (c)) d` -> `a () d`. */
function outsideParens(text: string): string {
  let out = text;
  for (let prev = ''; prev !== out; ) {
    prev = out;
    out = out.replace(/\([^()]*\)/g, '()');
  }
  return out;
}

function tableList(text: string): string[] {
  return splitTopLevel(text).map((t) => normalizeTableName(t.replace(/^ONLY /i, '').replace(/ ?\*$/, '')));
}

function columnName(raw: string): string {
  return unquoteIdentifier(raw).toLowerCase();
}

/** Columns an UPDATE's SET clause assigns, or null when the clause is not a plain `col = ...` list. */
function setTargets(setClause: string): string[] | null {
  const clause = outsideParens(setClause).split(/ (?:FROM|WHERE|RETURNING) /i)[0] ?? '';
  const targets: string[] = [];
  for (const part of splitTopLevel(clause)) {
    const m = rx(String.raw`^(?:{ID} ?\. ?)?({ID}) ?=`).exec(part);
    if (!m) return null;
    targets.push(columnName(m[1]!));
  }
  return targets;
}
