// What differs between two schema fingerprints, each difference named the way a person fixing
// a down migration looks for it: which table, column, index, constraint or object, and what about
// it (missing, still there, type, default, not-null, position). Pure: the round trip compares the
// schema before a migration's up with the schema after its down.

import type { ColumnShape, ObjectKind, SchemaFingerprint, TableShape } from './engines/types.ts';

export type SchemaObject = 'table' | 'column' | 'index' | 'constraint' | ObjectKind;

export type SchemaChange =
  /** In the expected schema, not in the actual one. */
  | 'missing'
  /** In the actual schema, not in the expected one. */
  | 'extra'
  | 'type'
  | 'nullable'
  | 'default'
  | 'position'
  /** Identity, auto-increment, generated expression, primary-key membership (SQLite). */
  | 'extra attributes'
  /** An index, constraint or object of the same name defined differently. */
  | 'definition';

export interface SchemaDifference {
  readonly object: SchemaObject;
  /** `users` for a table, `users.email` for a column, the index/constraint/object name otherwise. */
  readonly name: string;
  /** The table an index, constraint or column belongs to (null for tables and other objects). */
  readonly table: string | null;
  readonly change: SchemaChange;
  /** The expected value (definition, type, default...), null when absent. */
  readonly expected: string | null;
  readonly actual: string | null;
  /** One line: `index users_email_idx on users: still there (CREATE INDEX ...)`. */
  readonly message: string;
}

/**
 * The differences of `actual` from `expected`, in a stable order (tables by name, then each
 * table's columns, indexes and constraints, then other objects). Empty when the hashes match.
 */
export function diffSchemas(expected: SchemaFingerprint, actual: SchemaFingerprint): SchemaDifference[] {
  if (expected.hash === actual.hash) return [];
  const out: SchemaDifference[] = [];
  for (const table of sortedUnion(Object.keys(expected.tables), Object.keys(actual.tables))) {
    const e = expected.tables[table];
    const a = actual.tables[table];
    if (!e || !a) {
      const shape = (e ?? a)!;
      out.push(
        difference(
          'table',
          table,
          null,
          e ? 'missing' : 'extra',
          e ? describe(shape) : null,
          a ? describe(shape) : null,
        ),
      );
      continue;
    }
    out.push(...diffColumns(table, e.columns, a.columns));
    out.push(...diffLines('index', table, e.indexes, a.indexes, indexName));
    out.push(...diffLines('constraint', table, e.constraints, a.constraints, constraintName));
  }
  const kinds = sortedUnion(Object.keys(expected.objects), Object.keys(actual.objects)) as ObjectKind[];
  for (const kind of kinds) {
    const lines = diffLines(kind, null, expected.objects[kind] ?? [], actual.objects[kind] ?? [], objectName);
    // Object lines are `name: definition`; the name is already the difference's own.
    out.push(...lines.map((d) => withDefinitions(d, definitionOf(d.expected), definitionOf(d.actual))));
  }
  return out;
}

function diffColumns(
  table: string,
  expected: readonly ColumnShape[],
  actual: readonly ColumnShape[],
): SchemaDifference[] {
  const out: SchemaDifference[] = [];
  const byName = new Map(actual.map((c) => [c.name, c]));
  const had = new Set(expected.map((c) => c.name));
  for (const e of expected) {
    const a = byName.get(e.name);
    const name = `${table}.${e.name}`;
    if (!a) {
      out.push(difference('column', name, table, 'missing', columnLine(e), null));
      continue;
    }
    if (e.type !== a.type) out.push(difference('column', name, table, 'type', e.type, a.type));
    if (e.nullable !== a.nullable)
      out.push(difference('column', name, table, 'nullable', nullability(e), nullability(a)));
    if (e.default !== a.default) out.push(difference('column', name, table, 'default', e.default, a.default));
    if (e.extra !== a.extra)
      out.push(difference('column', name, table, 'extra attributes', e.extra, a.extra));
    if (e.position !== a.position)
      out.push(difference('column', name, table, 'position', String(e.position), String(a.position)));
  }
  for (const a of actual)
    if (!had.has(a.name))
      out.push(difference('column', `${table}.${a.name}`, table, 'extra', null, columnLine(a)));
  return out;
}

/** Lines paired by name where one can be read from them; the rest as missing / extra. */
function diffLines(
  object: SchemaObject,
  table: string | null,
  expected: readonly string[],
  actual: readonly string[],
  nameOf: (line: string) => string | null,
): SchemaDifference[] {
  const actualSet = new Set(actual);
  const expectedSet = new Set(expected);
  const missing = expected.filter((l) => !actualSet.has(l));
  const extra = actual.filter((l) => !expectedSet.has(l));
  const out: SchemaDifference[] = [];
  const extraByName = new Map<string, string>();
  for (const l of extra) {
    const n = nameOf(l);
    if (n !== null) extraByName.set(n, l);
  }
  const paired = new Set<string>();
  for (const l of missing) {
    const n = nameOf(l);
    const other = n === null ? undefined : extraByName.get(n);
    if (other !== undefined) {
      paired.add(other);
      out.push(difference(object, n!, table, 'definition', l, other));
    } else out.push(difference(object, n ?? l, table, 'missing', l, null));
  }
  for (const l of extra)
    if (!paired.has(l)) out.push(difference(object, nameOf(l) ?? l, table, 'extra', null, l));
  return out;
}

const WHAT: Record<SchemaChange, (e: string | null, a: string | null) => string> = {
  missing: (e) => `missing: the down did not put it back (expected ${e})`,
  extra: (_, a) => `still there: the down did not remove it (${a})`,
  type: (e, a) => `type is ${a}, expected ${e}`,
  nullable: (e, a) => `${a}, expected ${e}`,
  default: (e, a) => `default is ${a ?? 'none'}, expected ${e ?? 'none'}`,
  position: (e, a) => `is column ${a} of its table, expected ${e} (re-added at another place)`,
  'extra attributes': (e, a) => `attributes are ${a ?? 'none'}, expected ${e ?? 'none'}`,
  definition: (e, a) => `defined as ${a}, expected ${e}`,
};

function difference(
  object: SchemaObject,
  name: string,
  table: string | null,
  change: SchemaChange,
  expected: string | null,
  actual: string | null,
): SchemaDifference {
  const on = table !== null && object !== 'column' ? ` on ${table}` : '';
  const label = object === 'materializedView' ? 'materialized view' : object;
  return {
    object,
    name,
    table,
    change,
    expected,
    actual,
    message: `${label} ${name}${on}: ${WHAT[change](expected, actual)}`,
  };
}

const nullability = (c: ColumnShape) => (c.nullable ? 'nullable' : 'not null');
const columnLine = (c: ColumnShape) =>
  `${c.type}${c.nullable ? '' : ' not null'}${c.default !== null ? ` default ${c.default}` : ''}${c.extra ? ` ${c.extra}` : ''}`;
const describe = (t: TableShape) =>
  `${t.columns.length} column(s): ${t.columns.map((c) => c.name).join(', ')}`;

/** PostgreSQL `CREATE INDEX name ON`, MySQL `index name using`, SQLite `CREATE INDEX name ON`. */
export function indexName(line: string): string | null {
  const m = /\bINDEX\s+(?:IF NOT EXISTS\s+)?("(?:[^"]|"")+"|`(?:[^`]|``)+`|[^\s(]+)/i.exec(line);
  return m ? m[1]! : null;
}

/** PostgreSQL and MySQL lines start with the constraint's name; SQLite's have none. */
function constraintName(line: string): string | null {
  if (/^(?:foreign key|check|primary key|unique)\b/i.test(line)) return null;
  return /^\S+/.exec(line)?.[0] ?? null;
}

function definitionOf(line: string | null): string | null {
  if (line === null) return null;
  const at = line.indexOf(': ');
  return at > 0 ? line.slice(at + 2) : line;
}

function withDefinitions(
  d: SchemaDifference,
  expected: string | null,
  actual: string | null,
): SchemaDifference {
  return difference(d.object, d.name, d.table, d.change, expected, actual);
}

function objectName(line: string): string | null {
  const at = line.indexOf(': ');
  return at > 0 ? line.slice(0, at) : null;
}

function sortedUnion(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])].sort();
}
