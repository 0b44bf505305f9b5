// The store's tables as Kysely types, and the migrations that create them, as code.
// Portable across SQLite and PostgreSQL: JSON is stored as text, timestamps as epoch milliseconds
// in bigint columns (the pg pool parses int8 to number, see postgres-dialect.ts).

import type { ColumnType, Generated, Kysely } from 'kysely';
import { sql } from 'kysely';
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration';

export type StoreDialect = 'sqlite' | 'postgres';

export interface AppsTable {
  name: string;
  /** JSON text. */
  spec: string;
  stable_revision: number | null;
  /** The last revision number handed out for this app; numbers are never reused, even after a prune. */
  revision_seq: ColumnType<number, number | undefined, number>;
  created_at: number;
  updated_at: number;
  /** JSON text: maintenance mode while it is on (spec/maintenance.ts); null when off. */
  maintenance: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface RevisionsTable {
  app: string;
  number: number;
  version: string;
  /** JSON text. */
  spec: string;
  copied_from: number | null;
  reason: string | null;
  created_at: number;
}

export interface RolloutsTable {
  id: string;
  app: string;
  kind: string;
  strategy: string;
  from_revision: number | null;
  to_revision: number;
  phase: string;
  /** JSON text. */
  state: string;
  reason: string | null;
  error: string | null;
  generation: number;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

export interface EventsTable {
  id: Generated<number>;
  app: string;
  rollout_id: string | null;
  at: number;
  type: string;
  message: string;
  /** JSON text. */
  data: string;
}

export interface IncidentsTable {
  id: string;
  app: string;
  rollout_id: string | null;
  severity: string;
  status: string;
  title: string;
  /** JSON text: the whole incident document (features/incidents/incident.ts). */
  data: string;
  created_at: number;
  updated_at: number;
  resolved_at: number | null;
}

/** Rollback drills (features/drills): one row per rehearsal; `report` is the drill report. */
export interface DrillsTable {
  id: string;
  app: string;
  version: string;
  /** Running | Passed | Failed. */
  status: string;
  /** JSON text: the whole drill report (features/drills/drill-report.ts). */
  report: string;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

export interface FlagSetsTable {
  app: string;
  version: number;
  /** JSON text: the flag set in flagd's format. */
  document: string;
  author: string;
  reason: string | null;
  /** JSON text: what changed from the previous version. */
  diff: string;
  copied_from: number | null;
  created_at: number;
  /** JSON text: what flagd loads but objects to in this version, as its author was told (0006). */
  warnings: Generated<string>;
}

/** API tokens: only the sha256 of a token is kept; the token itself is shown once, at creation. */
export interface ApiTokensTable {
  id: string;
  name: string;
  role: string;
  /** The one app the token may act on; null: every app. */
  app: string | null;
  hash: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

/** The audit trail: append-only, each entry holding the hash of the one before (prev_hash). */
export interface AuditLogTable {
  id: Generated<number>;
  at: number;
  actor: string | null;
  role: string | null;
  remote: string;
  method: string;
  route: string;
  app: string | null;
  revision: number | null;
  outcome: string;
  status: number;
  reason: string | null;
  prev_hash: string;
  hash: string;
}

/**
 * A rollout's analysis series, one row per revision and second: what its rules and judgment have
 * seen, so that a restarted controller resumes with the same evidence. Bounded to the longest
 * window in use; the rows go when the analysis of the rollout is over.
 */
export interface AnalysisSecondsTable {
  rollout_id: string;
  revision: number;
  /** Unix second. */
  second: number;
  /** JSON text: the feature's point for that second (features/analysis/series.ts). */
  data: string;
}

export interface Database {
  analysis_seconds: AnalysisSecondsTable;
  api_tokens: ApiTokensTable;
  audit_log: AuditLogTable;
  apps: AppsTable;
  flag_sets: FlagSetsTable;
  revisions: RevisionsTable;
  rollouts: RolloutsTable;
  events: EventsTable;
  incidents: IncidentsTable;
  drills: DrillsTable;
}

/**
 * Unique keys the store translates into domain errors. `columns` is how SQLite names a violation
 * ("UNIQUE constraint failed: rollouts.app"), `name` is how PostgreSQL does (the constraint/index name).
 */
export const UNIQUE_KEYS = {
  revisionNumber: { name: 'revisions_pkey', columns: 'revisions.app, revisions.number' },
  rolloutId: { name: 'rollouts_pkey', columns: 'rollouts.id' },
  activeRollout: { name: 'rollouts_one_active_per_app', columns: 'rollouts.app' },
  incidentId: { name: 'incidents_pkey', columns: 'incidents.id' },
  drillId: { name: 'drills_pkey', columns: 'drills.id' },
  flagSetVersion: { name: 'flag_sets_pkey', columns: 'flag_sets.app, flag_sets.version' },
  activeTokenName: { name: 'api_tokens_one_active_name', columns: 'api_tokens.name' },
  auditPrevHash: { name: 'audit_log_prev_hash', columns: 'audit_log.prev_hash' },
} as const;

export type UniqueKey = (typeof UNIQUE_KEYS)[keyof typeof UNIQUE_KEYS];

// Migrations take Kysely<any>: they must not depend on the current Database type.
// biome-ignore lint/suspicious/noExplicitAny: the schema is what the migration creates
type AnyDb = Kysely<any>;

function initialSchema(dialect: StoreDialect): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('apps')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('spec', 'text', (c) => c.notNull())
        .addColumn('stable_revision', 'integer')
        .addColumn('revision_seq', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('revisions')
        .addColumn('app', 'text', (c) => c.notNull().references('apps.name').onDelete('cascade'))
        .addColumn('number', 'integer', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('spec', 'text', (c) => c.notNull())
        .addColumn('copied_from', 'integer')
        .addColumn('reason', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint(UNIQUE_KEYS.revisionNumber.name, ['app', 'number'])
        .execute();

      await db.schema
        .createTable('rollouts')
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('app', 'text', (c) => c.notNull().references('apps.name').onDelete('cascade'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('strategy', 'text', (c) => c.notNull())
        .addColumn('from_revision', 'integer')
        .addColumn('to_revision', 'integer', (c) => c.notNull())
        .addColumn('phase', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('error', 'text')
        .addColumn('generation', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint')
        .addPrimaryKeyConstraint(UNIQUE_KEYS.rolloutId.name, ['id'])
        .execute();
      // At most one unfinished rollout per app, enforced by the database (partial unique index:
      // supported by both SQLite and PostgreSQL).
      await db.schema
        .createIndex(UNIQUE_KEYS.activeRollout.name)
        .on('rollouts')
        .column('app')
        .unique()
        .where(sql.ref('finished_at'), 'is', null)
        .execute();
      await db.schema
        .createIndex('rollouts_app_created')
        .on('rollouts')
        .columns(['app', 'created_at'])
        .execute();

      await db.schema
        .createTable('events')
        .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('app', 'text', (c) => c.notNull())
        .addColumn('rollout_id', 'text')
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('events_app_id').on('events').columns(['app', 'id']).execute();
      await db.schema.createIndex('events_rollout_id').on('events').columns(['rollout_id', 'id']).execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('events').execute();
      await db.schema.dropTable('rollouts').execute();
      await db.schema.dropTable('revisions').execute();
      await db.schema.dropTable('apps').execute();
    },
  };
}

/** Incidents: one per rollback. The columns are what lists filter on; `data` is the document. */
function incidentsSchema(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('incidents')
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('app', 'text', (c) => c.notNull().references('apps.name').onDelete('cascade'))
        .addColumn('rollout_id', 'text')
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('resolved_at', 'bigint')
        .addPrimaryKeyConstraint(UNIQUE_KEYS.incidentId.name, ['id'])
        .execute();
      await db.schema
        .createIndex('incidents_app_created')
        .on('incidents')
        .columns(['app', 'created_at'])
        .execute();
      await db.schema.createIndex('incidents_created').on('incidents').column('created_at').execute();
      await db.schema.createIndex('incidents_rollout').on('incidents').column('rollout_id').execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('incidents').execute();
    },
  };
}

/** Flag sets: every change is a new immutable version, per app. */
function flagSetsSchema(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('flag_sets')
        .addColumn('app', 'text', (c) => c.notNull().references('apps.name').onDelete('cascade'))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('document', 'text', (c) => c.notNull())
        .addColumn('author', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('diff', 'text', (c) => c.notNull())
        .addColumn('copied_from', 'integer')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint(UNIQUE_KEYS.flagSetVersion.name, ['app', 'version'])
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('flag_sets').execute();
    },
  };
}

/**
 * Tokens and the audit trail. A name belongs to one unrevoked token at a time; an audit entry is
 * the successor of at most one entry (unique prev_hash), so two writers racing on the chain's
 * head cannot fork it: the loser retries on the new head.
 */
function securitySchema(dialect: StoreDialect): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('api_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('app', 'text')
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema
        .createIndex(UNIQUE_KEYS.activeTokenName.name)
        .on('api_tokens')
        .column('name')
        .unique()
        .where(sql.ref('revoked_at'), 'is', null)
        .execute();
      await db.schema
        .createTable('audit_log')
        .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('actor', 'text')
        .addColumn('role', 'text')
        .addColumn('remote', 'text', (c) => c.notNull())
        .addColumn('method', 'text', (c) => c.notNull())
        .addColumn('route', 'text', (c) => c.notNull())
        .addColumn('app', 'text')
        .addColumn('revision', 'integer')
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex(UNIQUE_KEYS.auditPrevHash.name)
        .on('audit_log')
        .column('prev_hash')
        .unique()
        .execute();
      await db.schema.createIndex('audit_log_app_id').on('audit_log').columns(['app', 'id']).execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('audit_log').execute();
      await db.schema.dropTable('api_tokens').execute();
    },
  };
}

/** The analysis series persisted with each rollout (its `for` windows and judgment survive a restart). */
function analysisSecondsSchema(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('analysis_seconds')
        .addColumn('rollout_id', 'text', (c) => c.notNull().references('rollouts.id').onDelete('cascade'))
        .addColumn('revision', 'integer', (c) => c.notNull())
        .addColumn('second', 'bigint', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        // Keyed by second first: trimming the oldest seconds on every write is an index range.
        .addPrimaryKeyConstraint('analysis_seconds_pkey', ['rollout_id', 'second', 'revision'])
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('analysis_seconds').execute();
    },
  };
}

/**
 * The warnings of a flag-set version (flag, JSON path, message): what flagd loads but objects to, as
 * `rewind flags set` showed them when the version was made. Versions made before have none recorded.
 */
function flagSetWarningsSchema(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .alterTable('flag_sets')
        .addColumn('warnings', 'text', (c) => c.notNull().defaultTo('[]'))
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.alterTable('flag_sets').dropColumn('warnings').execute();
    },
  };
}

/** Rollback drills, beside incidents: lists filter by app and status, newest first. */
function drillsSchema(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('drills')
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('app', 'text', (c) => c.notNull().references('apps.name').onDelete('cascade'))
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('report', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint')
        .addPrimaryKeyConstraint(UNIQUE_KEYS.drillId.name, ['id'])
        .execute();
      await db.schema.createIndex('drills_app_created').on('drills').columns(['app', 'created_at']).execute();
      await db.schema.createIndex('drills_created').on('drills').column('created_at').execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('drills').execute();
    },
  };
}

/** Maintenance mode, kept with the app: a restarted controller puts the same page in force. */
function appMaintenanceSchema(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.alterTable('apps').addColumn('maintenance', 'text').execute();
    },
    async down(db: AnyDb) {
      await db.schema.alterTable('apps').dropColumn('maintenance').execute();
    },
  };
}

/**
 * Who leads when several controllers share a PostgreSQL store: one row, written by the controller
 * that holds the leader's advisory lock (src/store/pg-leader-election.ts) and renewed each second,
 * so that the others can name it. The lock decides; the row only tells.
 */
function leaderSchema(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('leader')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('controller_id', 'text', (c) => c.notNull())
        .addColumn('api_url', 'text', (c) => c.notNull())
        .addColumn('since', 'bigint', (c) => c.notNull())
        .addColumn('renewed_at', 'bigint', (c) => c.notNull())
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('leader').execute();
    },
  };
}

/** All migrations, in order (names sort alphabetically). Never edit one that has shipped: add another. */
export function storeMigrations(dialect: StoreDialect): Record<string, Migration> {
  return {
    '0001_initial': initialSchema(dialect),
    '0002_incidents': incidentsSchema(),
    '0003_flag_sets': flagSetsSchema(),
    '0004_security': securitySchema(dialect),
    '0005_analysis_seconds': analysisSecondsSchema(),
    '0006_flag_set_warnings': flagSetWarningsSchema(),
    '0007_drills': drillsSchema(),
    '0008_app_maintenance': appMaintenanceSchema(),
    '0009_leader': leaderSchema(),
  };
}

export function migrationProvider(dialect: StoreDialect): MigrationProvider {
  return { getMigrations: async () => storeMigrations(dialect) };
}

/** Brings the database to the latest schema; throws the first migration error. */
export async function migrateToLatest(db: Kysely<Database>, dialect: StoreDialect): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: migrationProvider(dialect),
    migrationTableName: 'rewind_migration',
    migrationLockTableName: 'rewind_migration_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error === undefined) return;
  const failed = results?.find((r) => r.status === 'Error');
  // Not a migration's fault (e.g. cannot connect): the driver's error says it best.
  if (!failed) throw error;
  const message = error instanceof Error ? error.message : String(error);
  throw new Error(`migration ${failed.migrationName} failed on ${dialect}: ${message}`, { cause: error });
}
