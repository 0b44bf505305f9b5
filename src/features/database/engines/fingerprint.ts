// The canonical form every engine's schema description goes through before hashing: sorted
// tables with their columns (position included), index and constraint lines, and every other
// schema object (views, sequences, types, functions, triggers, extensions, events) as sorted
// `name: definition` lines per kind. Only this makes the hash stable across catalogue query
// orders and connections, and complete enough that no object kind can change unseen.

import { createHash } from 'node:crypto';
import type { ColumnShape, ObjectKind, SchemaFingerprint, TableShape } from './types.ts';

export interface ShapeBuilder {
  column(table: string, column: ColumnShape): void;
  index(table: string, line: string): void;
  constraint(table: string, line: string): void;
  /** A table with no column rows yet (so empty tables still count). */
  table(table: string): void;
  /** A schema object outside tables: its kind, name and canonical definition. */
  object(kind: ObjectKind, name: string, definition: string): void;
  build(): SchemaFingerprint;
}

export function shapeBuilder(): ShapeBuilder {
  const tables = new Map<string, { columns: ColumnShape[]; indexes: string[]; constraints: string[] }>();
  const objects = new Map<ObjectKind, string[]>();
  const get = (t: string) => {
    let shape = tables.get(t);
    if (!shape) {
      shape = { columns: [], indexes: [], constraints: [] };
      tables.set(t, shape);
    }
    return shape;
  };
  return {
    column: (t, c) => void get(t).columns.push(c),
    index: (t, line) => void get(t).indexes.push(line.replace(/\s+/g, ' ').trim()),
    constraint: (t, line) => void get(t).constraints.push(line.replace(/\s+/g, ' ').trim()),
    table: (t) => void get(t),
    object(kind, name, definition) {
      objects.set(kind, [...(objects.get(kind) ?? []), `${name}: ${definition.replace(/\s+/g, ' ').trim()}`]);
    },
    build() {
      const out: Record<string, TableShape> = {};
      for (const name of [...tables.keys()].sort()) {
        const t = tables.get(name)!;
        out[name] = {
          columns: [...t.columns].sort((a, b) => compare(a.name, b.name)),
          indexes: [...t.indexes].sort(),
          constraints: [...t.constraints].sort(),
        };
      }
      const other: Partial<Record<ObjectKind, string[]>> = {};
      for (const kind of [...objects.keys()].sort()) other[kind] = [...objects.get(kind)!].sort();
      return { hash: sha256(JSON.stringify({ tables: out, objects: other })), tables: out, objects: other };
    },
  };
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Rewind's own tables (ledger, locks, SQLite backups) are never part of the user's schema. */
export function isRewindTable(name: string): boolean {
  return name.toLowerCase().startsWith('rewind_');
}
