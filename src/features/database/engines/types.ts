// The one interface the migrator, backups and verification talk to. Each engine file is the only
// place that knows which database it is; callers never branch on the engine name for SQL.

import type { DatabaseEngineName } from '../types.ts';

export type Row = Record<string, unknown>;

/** One column as the fingerprint sees it; `extra` holds identity/auto-increment/generated. */
export interface ColumnShape {
  readonly name: string;
  /** 1-based place among the table's columns: `select *` and positional inserts see it. */
  readonly position: number;
  readonly type: string;
  readonly nullable: boolean;
  readonly default: string | null;
  readonly extra: string | null;
}

/** Schema objects besides tables, each kind a sorted list of `name: definition` lines. */
export type ObjectKind =
  | 'view'
  | 'materializedView'
  | 'sequence'
  | 'type'
  | 'domain'
  | 'function'
  | 'trigger'
  | 'extension'
  | 'event';

/** Indexes and constraints are canonical one-line descriptions, sorted. */
export interface TableShape {
  /** Sorted by name; each carries its position, so a column re-added at the end differs. */
  readonly columns: readonly ColumnShape[];
  readonly indexes: readonly string[];
  readonly constraints: readonly string[];
}

export interface SchemaFingerprint {
  /** sha256 (hex) of the canonical JSON of `tables` and `objects`. */
  readonly hash: string;
  readonly tables: Readonly<Record<string, TableShape>>;
  readonly objects: Readonly<Partial<Record<ObjectKind, readonly string[]>>>;
}

export interface TableStats {
  readonly rows: number;
  /**
   * Order-independent content checksum (column order does not matter either), or null when the
   * table has more rows than the checksum row limit. Comparable only within one engine.
   */
  readonly checksum: string | null;
}

export interface ForeignKeyOrphans {
  readonly table: string;
  /** Constraint name (SQLite: `fk<id>`, its position in PRAGMA foreign_key_list). */
  readonly constraint: string;
  readonly parent: string;
  /** Child rows whose key is fully non-null and has no parent row. */
  readonly orphans: number;
}

/** What it takes to recreate a table a migration dropped, recorded when it is backed up. */
export interface TableDefinition {
  readonly columns: readonly string[];
  /** Empty when the table has none: such a table cannot be merged back by key. */
  readonly primaryKey: readonly string[];
  /** Create the table with its columns, defaults, identity (and the sequences it owns). */
  readonly create: readonly string[];
  /** After its rows are back: constraints, indexes, triggers. */
  readonly after: readonly string[];
}

/** One table of a merge restore. */
export interface MergePlan {
  readonly table: string;
  /** The primary key both sides are matched on. */
  readonly key: readonly string[];
  /** Columns whose values come from the backup for rows present in both (a dropped column). */
  readonly fill: readonly string[];
  /** Put back the backup's rows whose key the table no longer has. */
  readonly insertMissing: boolean;
  /** Destructive: delete rows the backup lacks and set every column from the backup. */
  readonly overwrite: boolean;
  /** The table is gone: create it from this first (rows go in before `after`). */
  readonly recreate: TableDefinition | null;
}

export interface MergeCounts {
  readonly table: string;
  readonly recreated: boolean;
  readonly updated: number;
  readonly inserted: number;
  readonly deleted: number;
  /** Keys of (up to 20 of) the rows deleted, or that an overwrite would delete. */
  readonly deletedSample: readonly Row[];
  /** The columns whose values were taken from the backup. */
  readonly filled: readonly string[];
}

/**
 * A connection to an application's database. Contract:
 * - One session: locks, lock timeouts and transactions belong to this connection, so call it
 *   from one flow at a time (no parallel calls while a transaction is open).
 * - Scope is the current schema (PostgreSQL `current_schema()`, MySQL `DATABASE()`, SQLite
 *   `main`). Rewind's own tables (`rewind_*`) and backups are never user tables.
 * - Query placeholders are `?` on every engine.
 */
export interface DatabaseEngine {
  readonly name: DatabaseEngineName;
  /** DDL rolls back with the transaction (PostgreSQL, SQLite); MySQL commits each DDL. */
  readonly transactionalDdl: boolean;

  /** Runs one statement (no parameters). Rejects with the driver's error. */
  exec(sql: string): Promise<void>;
  query<T extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /**
   * BEGIN (SQLite: BEGIN IMMEDIATE, so a busy database fails here and not mid-way), fn, COMMIT;
   * ROLLBACK and rethrow when fn throws. Not reentrant.
   */
  transaction<T>(fn: () => Promise<T>): Promise<T>;
  /** False for statements the engine refuses inside a transaction (CREATE INDEX CONCURRENTLY). */
  canRunInTransaction(sql: string): boolean;
  /** True for lock-wait timeouts, busy databases and deadlocks: worth retrying later. */
  isLockTimeout(err: unknown): boolean;

  /** How long a statement waits for a lock before failing with a lock-timeout error. */
  setLockTimeout(ms: number): Promise<void>;
  /**
   * Session-level advisory lock, held until unlock or close; waits at most timeoutMs and says
   * whether it got it. Two sessions (processes) never hold the same name at once.
   */
  tryLock(name: string, timeoutMs: number): Promise<boolean>;
  /** Idempotent: unlocking a lock not held is a no-op. */
  unlock(name: string): Promise<void>;

  /** This connection's session id in the server (null where there is none: SQLite). */
  sessionId(): Promise<string | null>;
  /** Whether that session still exists (and may still be running a statement). */
  sessionBusy(id: string): Promise<boolean>;
  /** Drops indexes a crashed concurrent build left INVALID; returns their names. */
  dropInvalidIndexes(): Promise<string[]>;

  /**
   * Stable across runs and connections; equal after a column is created then dropped. Covers
   * tables, columns (type, nullability, default, position), indexes (and their validity),
   * constraints, and every other object kind of ObjectKind the engine has.
   */
  schemaFingerprint(): Promise<SchemaFingerprint>;
  /** User tables, sorted. */
  listTables(): Promise<string[]>;
  tableStats(
    tables: readonly string[],
    options: { readonly checksumRowLimit: number },
  ): Promise<Record<string, TableStats>>;
  /** One entry per foreign key that has orphans; empty when referential integrity holds. */
  foreignKeyOrphans(): Promise<ForeignKeyOrphans[]>;

  /**
   * Copies each table's structure (columns, types, not-null, indexes; no foreign keys, so the
   * copy never blocks the app) and rows into the backup place, consistently across tables where
   * the engine allows. Fails if the backup already exists.
   */
  backupTables(backupId: string, tables: readonly string[]): Promise<void>;
  /** Columns, primary key and the DDL that recreates each table (backups record it). */
  describeTables(tables: readonly string[]): Promise<Record<string, TableDefinition>>;
  /**
   * Merges backed-up rows back (one transaction for the rows where the engine allows; foreign
   * key checks and triggers off meanwhile). Never adds a column: the schema is the current
   * level's. With dryRun nothing changes and the counts say what would. Throws before changing
   * anything when the backup lacks a table of the plan.
   */
  mergeTables(
    backupId: string,
    plans: readonly MergePlan[],
    options: { readonly dryRun: boolean },
  ): Promise<MergeCounts[]>;
  /** Drops every table of the backup; idempotent. */
  dropBackup(backupId: string): Promise<void>;
  /** Backup ids that have at least one table in the backup place. */
  listBackupIds(): Promise<string[]>;

  close(): Promise<void>;
}
