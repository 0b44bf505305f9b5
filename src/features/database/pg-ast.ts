// What the PostgreSQL parser itself (libpg-query: PostgreSQL's own parser compiled to
// WebAssembly, its PL/pgSQL parser included) says of one statement: the facts the regex linter
// cannot see. Statements inside a DO block, index and constraint changes, VACUUM FULL, REINDEX,
// CLUSTER, json columns and column type changes. null when the parser rejects the statement
// (the linter then works from its patterns alone, and the database reports the syntax error).

type Parser = typeof import('libpg-query');

let loading: Promise<void> | null = null;
let parser: Parser | null = null;

/**
 * Imports and compiles the parser (a 1.8 MB WebAssembly module) once, on first need:
 * loadMigrations does it for PostgreSQL folders, so a server or CLI that never lints PostgreSQL
 * never pays for it.
 */
export function loadPgParser(): Promise<void> {
  loading ??= import('libpg-query').then(async (mod) => {
    await mod.loadModule();
    parser = mod;
  });
  return loading;
}

export interface PgType {
  /** Lower-case base name without the pg_catalog prefix: varchar, numeric, text, json ... */
  readonly name: string;
  /** Type modifiers: varchar(20) -> [20], numeric(10, 2) -> [10, 2]; [] when none. */
  readonly mods: readonly number[];
}

export type PgNote =
  | { readonly kind: 'dropIndex'; readonly concurrently: boolean; readonly names: readonly string[] }
  | { readonly kind: 'dropNotNull'; readonly table: string; readonly column: string }
  | {
      readonly kind: 'addConstraint';
      readonly table: string;
      readonly name: string | null;
      readonly type: string;
      readonly notValid: boolean;
      /** The column of a `CHECK (col IS NOT NULL)`, else null: the first step of RW107's fix. */
      readonly notNullColumn: string | null;
    }
  | { readonly kind: 'setNotNull'; readonly table: string; readonly column: string }
  | { readonly kind: 'validateConstraint'; readonly table: string; readonly name: string }
  | { readonly kind: 'dropConstraint'; readonly table: string; readonly name: string }
  | { readonly kind: 'vacuumFull'; readonly tables: readonly string[] }
  | { readonly kind: 'reindex'; readonly concurrently: boolean; readonly target: string }
  | { readonly kind: 'cluster'; readonly table: string }
  | {
      readonly kind: 'column';
      readonly table: string;
      readonly column: string;
      readonly type: PgType;
      readonly added: boolean;
      /** Every function the column's DEFAULT calls, nested ones included, lower-case. */
      readonly defaultCalls: readonly string[];
    }
  | {
      readonly kind: 'typeChange';
      readonly table: string;
      readonly column: string;
      readonly type: PgType;
      /** USING: none, the column itself or a cast of it, or another expression (which rewrites). */
      readonly using: 'none' | 'cast' | 'expression';
    }
  | { readonly kind: 'setLogged'; readonly table: string; readonly logged: boolean }
  | { readonly kind: 'refreshMatView'; readonly concurrently: boolean; readonly view: string }
  | { readonly kind: 'setTablespace'; readonly table: string; readonly tablespace: string }
  | { readonly kind: 'attachPartition'; readonly table: string; readonly partition: string }
  | { readonly kind: 'domainConstraint'; readonly domain: string; readonly notValid: boolean }
  | { readonly kind: 'dropSchemaCascade'; readonly names: readonly string[] }
  | { readonly kind: 'update'; readonly table: string; readonly columns: readonly string[] };

export interface PgStatement {
  readonly notes: readonly PgNote[];
  /** SQL statements a DO block runs (static ones, and EXECUTE of a string literal). */
  readonly embedded: readonly string[];
}

type Node = Record<string, unknown>;

export function parsePgStatement(sql: string): PgStatement | null {
  if (!parser)
    throw new Error(
      'the PostgreSQL parser is not loaded yet: await loadPgParser() first (loadMigrations does)',
    );
  let stmts: { stmt: Node }[];
  try {
    stmts = (parser.parseSync(sql) as { stmts?: { stmt: Node }[] }).stmts ?? [];
  } catch {
    return null;
  }
  const notes: PgNote[] = [];
  const embedded: string[] = [];
  for (const { stmt } of stmts) {
    const [type, body] = Object.entries(stmt)[0] as [string, Node];
    describe(type, body, notes, embedded);
  }
  return { notes, embedded };
}

function describe(type: string, s: Node, notes: PgNote[], embedded: string[]): void {
  switch (type) {
    case 'DoStmt':
      embedded.push(...doBlockStatements(s));
      return;
    case 'DropStmt':
      if (s.removeType === 'OBJECT_SCHEMA' && s.behavior === 'DROP_CASCADE')
        notes.push({ kind: 'dropSchemaCascade', names: strings(s.objects) });
      if (s.removeType === 'OBJECT_INDEX')
        notes.push({
          kind: 'dropIndex',
          concurrently: s.concurrent === true,
          names: list(s.objects).map((o) =>
            strings((o as Node).List ? ((o as Node).List as Node).items : [o]).join('.'),
          ),
        });
      return;
    case 'VacuumStmt': {
      const full = list(s.options).some((o) => ((o as Node).DefElem as Node | undefined)?.defname === 'full');
      if (full && s.is_vacuumcmd !== false)
        notes.push({
          kind: 'vacuumFull',
          tables: list(s.rels).map((r) => relname(((r as Node).VacuumRelation as Node)?.relation)),
        });
      return;
    }
    case 'ReindexStmt':
      notes.push({
        kind: 'reindex',
        concurrently: list(s.params).some(
          (p) => ((p as Node).DefElem as Node | undefined)?.defname === 'concurrently',
        ),
        target: relname(s.relation) || String(s.name ?? ''),
      });
      return;
    case 'AlterDomainStmt':
      if (s.subtype === 'C') {
        const c = ((s.def ?? {}) as Node).Constraint as Node | undefined;
        notes.push({
          kind: 'domainConstraint',
          domain: list(s.typeName)
            .map((n) => stringValue(n))
            .join('.'),
          notValid: c?.skip_validation === true,
        });
      }
      return;
    case 'RefreshMatViewStmt':
      notes.push({ kind: 'refreshMatView', concurrently: s.concurrent === true, view: relname(s.relation) });
      return;
    case 'ClusterStmt':
      notes.push({ kind: 'cluster', table: relname(s.relation) });
      return;
    case 'UpdateStmt':
      notes.push({
        kind: 'update',
        table: relname(s.relation),
        columns: list(s.targetList).map((t) => String(((t as Node).ResTarget as Node)?.name ?? '')),
      });
      return;
    case 'CreateStmt': {
      const table = relname(s.relation);
      for (const e of list(s.tableElts)) {
        const c = (e as Node).ColumnDef as Node | undefined;
        if (c)
          notes.push({
            kind: 'column',
            table,
            column: String(c.colname),
            type: typeOf(c.typeName),
            added: false,
            defaultCalls: defaultCalls(c),
          });
      }
      return;
    }
    case 'AlterTableStmt': {
      if (s.objtype !== 'OBJECT_TABLE') return;
      const table = relname(s.relation);
      for (const item of list(s.cmds)) {
        const cmd = (item as Node).AlterTableCmd as Node;
        const name = String(cmd.name ?? '');
        const def = (cmd.def ?? {}) as Node;
        switch (cmd.subtype) {
          case 'AT_DropNotNull':
            notes.push({ kind: 'dropNotNull', table, column: name });
            break;
          case 'AT_SetNotNull':
            notes.push({ kind: 'setNotNull', table, column: name });
            break;
          case 'AT_DropConstraint':
            notes.push({ kind: 'dropConstraint', table, name });
            break;
          case 'AT_ValidateConstraint':
            notes.push({ kind: 'validateConstraint', table, name });
            break;
          case 'AT_AddConstraint': {
            const c = def.Constraint as Node;
            notes.push({
              kind: 'addConstraint',
              table,
              name: (c.conname as string | undefined) ?? null,
              type: String(c.contype),
              notValid: c.skip_validation === true,
              notNullColumn: notNullColumn(c),
            });
            break;
          }
          case 'AT_AddColumn': {
            const c = def.ColumnDef as Node;
            notes.push({
              kind: 'column',
              table,
              column: String(c.colname),
              type: typeOf(c.typeName),
              added: true,
              defaultCalls: defaultCalls(c),
            });
            break;
          }
          case 'AT_AlterColumnType': {
            const c = def.ColumnDef as Node;
            notes.push({
              kind: 'typeChange',
              table,
              column: name,
              type: typeOf(c.typeName),
              using: usingKind(c.raw_default, name),
            });
            break;
          }
          case 'AT_SetLogged':
          case 'AT_SetUnLogged':
            notes.push({ kind: 'setLogged', table, logged: cmd.subtype === 'AT_SetLogged' });
            break;
          case 'AT_SetTableSpace':
            notes.push({ kind: 'setTablespace', table, tablespace: name });
            break;
          case 'AT_AttachPartition':
            notes.push({
              kind: 'attachPartition',
              table,
              partition: relname(((def.PartitionCmd ?? {}) as Node).name),
            });
            break;
        }
      }
      return;
    }
  }
}

/** The statements a DO block's PL/pgSQL body runs, through PostgreSQL's PL/pgSQL parser. */
function doBlockStatements(s: Node): string[] {
  const args = list(s.args).map((a) => (a as Node).DefElem as Node);
  const language = args.find((a) => a.defname === 'language');
  if (language && stringValue(language.arg) !== 'plpgsql') return [];
  const body = stringValue(args.find((a) => a.defname === 'as')?.arg);
  if (body === null) return [];
  const tag = '$rewind_do$';
  if (body.includes(tag)) return [];
  let tree: unknown;
  try {
    tree = parser!.parsePlPgSQLSync(
      `CREATE FUNCTION rewind_do() RETURNS void LANGUAGE plpgsql AS ${tag}${body}${tag}`,
    );
  } catch {
    return [];
  }
  const out: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const n = node as Node;
    const exec = n.PLpgSQL_stmt_execsql as Node | undefined;
    if (exec) out.push(exprQuery(exec.sqlstmt));
    const dyn = n.PLpgSQL_stmt_dynexecute as Node | undefined;
    if (dyn) {
      const literal = /^'((?:[^']|'')*)'$/s.exec(exprQuery(dyn.query).trim());
      if (literal) out.push(literal[1]!.replaceAll("''", "'"));
    }
    for (const v of Object.values(n)) walk(v);
  };
  walk(tree);
  return out.filter(Boolean);
}

/** The functions a column's DEFAULT expression calls, at any depth. */
function defaultCalls(column: Node): string[] {
  const out: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) for (const item of node) walk(item);
    else if (node !== null && typeof node === 'object') {
      const call = (node as Node).FuncCall as Node | undefined;
      if (call) out.push((strings(call.funcname).at(-1) ?? '').toLowerCase());
      for (const v of Object.values(node)) walk(v);
    }
  };
  for (const c of list(column.constraints)) {
    const con = (c as Node).Constraint as Node | undefined;
    if (con?.contype === 'CONSTR_DEFAULT') walk(con.raw_expr);
  }
  return out;
}

function usingKind(expr: unknown, column: string): 'none' | 'cast' | 'expression' {
  if (expr === undefined) return 'none';
  const e = expr as Node;
  const ref = ((e.TypeCast as Node | undefined)?.arg as Node | undefined) ?? e;
  const fields = strings((ref.ColumnRef as Node | undefined)?.fields);
  return fields.length === 1 && fields[0] === column ? 'cast' : 'expression';
}

/** `CHECK (col IS NOT NULL)` -> col. */
function notNullColumn(c: Node): string | null {
  const test = (c.raw_expr as Node | undefined)?.NullTest as Node | undefined;
  if (c.contype !== 'CONSTR_CHECK' || test?.nulltesttype !== 'IS_NOT_NULL') return null;
  const fields = strings(((test.arg as Node | undefined)?.ColumnRef as Node | undefined)?.fields);
  return fields.length === 1 ? fields[0]!.toLowerCase() : null;
}

function exprQuery(e: unknown): string {
  return String(((e as Node | undefined)?.PLpgSQL_expr as Node | undefined)?.query ?? '');
}

function typeOf(t: unknown): PgType {
  const n = (t ?? {}) as Node;
  const names = strings(n.names).filter((x) => x !== 'pg_catalog');
  const mods = list(n.typmods).flatMap((m) => {
    const v = (((m as Node).A_Const as Node | undefined)?.ival as Node | undefined)?.ival;
    return typeof v === 'number' ? [v] : [];
  });
  return { name: (names.at(-1) ?? '').toLowerCase(), mods };
}

function relname(r: unknown): string {
  return String((r as Node | undefined)?.relname ?? '').toLowerCase();
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function strings(v: unknown): string[] {
  return list(v).map((x) => String(((x as Node).String as Node | undefined)?.sval ?? ''));
}

function stringValue(v: unknown): string | null {
  const s = ((v as Node | undefined)?.String as Node | undefined)?.sval;
  return typeof s === 'string' ? s : null;
}

/**
 * A type change that only widens: no rewrite, no value the running revision cannot read.
 * The same type (int -> integer); varchar(n) -> varchar(m >= n) / varchar / text; text <-> varchar
 * without a limit; numeric(p, s) -> numeric(q >= p, s) / numeric.
 */
export function isWidening(from: PgType, to: PgType): boolean {
  if (from.name === to.name && from.mods.join() === to.mods.join()) return true;
  const text = (t: PgType) => t.name === 'text' || (t.name === 'varchar' && t.mods.length === 0);
  if (text(to) && (text(from) || from.name === 'varchar')) return true;
  if (from.name === 'varchar' && to.name === 'varchar')
    return (to.mods[0] ?? 0) >= (from.mods[0] ?? Infinity);
  if (from.name === 'numeric' && to.name === 'numeric') {
    if (to.mods.length === 0) return true;
    return from.mods.length > 0 && to.mods[0]! >= from.mods[0]! && (to.mods[1] ?? 0) === (from.mods[1] ?? 0);
  }
  return false;
}
