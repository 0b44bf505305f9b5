// The Store over a Kysely<Database>: the same code for SQLite and PostgreSQL. Only the dialect
// setup (sqlite-dialect.ts, postgres-dialect.ts) knows which database it is.

import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import { type MaintenanceState, maintenanceStateSchema } from '../spec/maintenance.ts';
import { type RolloutState, rolloutStateSchema } from '../spec/rollout-state.ts';
import type { Severity } from '../spec/severity.ts';
import { isForeignKeyViolation, isUniqueViolation } from './db-errors.ts';
import type { ChangeFeed } from './pg-change-feed.ts';
import type {
  ApiTokensTable,
  AppsTable,
  AuditLogTable,
  Database,
  DrillsTable,
  EventsTable,
  FlagSetsTable,
  IncidentsTable,
  RevisionsTable,
  RolloutsTable,
  StoreDialect,
} from './schema.ts';
import { UNIQUE_KEYS } from './schema.ts';
import {
  type AppRecord,
  AUDIT_GENESIS,
  type AuditRecord,
  type DrillPatch,
  type DrillRecord,
  type DrillStatus,
  type EventRecord,
  type FlagSetRecord,
  type IncidentPatch,
  type IncidentRecord,
  type IncidentStatus,
  type NewDrill,
  type NewEvent,
  type NewFlagSet,
  type NewIncident,
  type NewRevision,
  type NewRollout,
  type RevisionRecord,
  RolloutConflictError,
  type RolloutKind,
  type RolloutPatch,
  type RolloutPhase,
  type RolloutRecord,
  StaleWriteError,
  type Store,
  StoreNotFoundError,
  TERMINAL_PHASES,
  TokenNameTakenError,
  type TokenRecord,
} from './types.ts';

export interface KyselyStoreOptions {
  readonly dialect: StoreDialect;
  /** Epoch milliseconds; defaults to Date.now. */
  readonly now?: () => number;
  /** Changes between controllers sharing the database (PostgreSQL); none for SQLite. */
  readonly changes?: ChangeFeed;
}

/** Retries for the rare races the database resolves with a unique violation. */
const MAX_ATTEMPTS = 8;

function toJson(value: unknown): string {
  return JSON.stringify(value ?? null);
}

function fromJson(text: string | null): unknown {
  return text === null ? null : JSON.parse(text);
}

function toFlagSet(row: Selectable<FlagSetsTable>): FlagSetRecord {
  return {
    app: row.app,
    version: row.version,
    document: fromJson(row.document),
    author: row.author,
    reason: row.reason,
    diff: fromJson(row.diff),
    copiedFrom: row.copied_from,
    createdAt: row.created_at,
    warnings: fromJson(row.warnings) as readonly unknown[],
  };
}

function toToken(row: Selectable<ApiTokensTable>): TokenRecord {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    app: row.app,
    hash: row.hash,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

function toAudit(row: Selectable<AuditLogTable>): AuditRecord {
  return {
    id: row.id,
    at: row.at,
    actor: row.actor,
    role: row.role,
    remote: row.remote,
    method: row.method,
    route: row.route,
    app: row.app,
    revision: row.revision,
    outcome: row.outcome,
    status: row.status,
    reason: row.reason,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** The last maintenance state read per app: a tick reads the app each time, page and all. */
const parsedMaintenance = new Map<string, { text: string; state: MaintenanceState }>();

function parseMaintenance(app: string, text: string | null): MaintenanceState | null {
  if (text === null) return null;
  const seen = parsedMaintenance.get(app);
  if (seen?.text === text) return seen.state;
  const parsed = maintenanceStateSchema.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new Error(
      `app ${app}: its stored maintenance mode is unreadable (${parsed.error.issues[0]?.message}); the store was written by something else or edited by hand`,
    );
  const state = deepFreeze(parsed.data);
  parsedMaintenance.set(app, { text, state });
  return state;
}

function toApp(row: Selectable<AppsTable>): AppRecord {
  return {
    name: row.name,
    spec: fromJson(row.spec),
    stableRevision: row.stable_revision,
    maintenance: parseMaintenance(row.name, row.maintenance),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toRevision(row: Selectable<RevisionsTable>): RevisionRecord {
  return {
    app: row.app,
    number: row.number,
    version: row.version,
    spec: fromJson(row.spec),
    copiedFrom: row.copied_from,
    reason: row.reason,
    createdAt: row.created_at,
  };
}

/**
 * States parsed lately, by rollout id and the exact JSON read: the loop reads the same few rollouts
 * on every tick, and a state is immutable, so an unchanged row is not parsed twice.
 */
const parsedStates = new Map<string, { readonly text: string; readonly state: RolloutState }>();
const PARSED_STATES_MAX = 1000;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** A rollout's journal, checked: a state the step machine cannot read stops here, named. */
function parseState(id: string, text: string): RolloutState {
  const seen = parsedStates.get(id);
  if (seen?.text === text) return seen.state;
  const parsed = rolloutStateSchema.safeParse(JSON.parse(text));
  if (parsed.success) {
    // Shared by every reader from now on: frozen, so that a reader that wrote into it would throw.
    const state = deepFreeze(parsed.data);
    if (parsedStates.size >= PARSED_STATES_MAX) parsedStates.clear();
    parsedStates.set(id, { text, state });
    return state;
  }
  const issue = parsed.error.issues[0];
  throw new Error(
    `rollout ${id}: its stored state is not a rollout state (${issue ? `${issue.path.join('.') || 'state'}: ${issue.message}` : 'unreadable'}); the store was written by something else or edited by hand`,
  );
}

function toRollout(row: Selectable<RolloutsTable>): RolloutRecord {
  return {
    id: row.id,
    app: row.app,
    kind: row.kind as RolloutKind,
    strategy: row.strategy,
    fromRevision: row.from_revision,
    toRevision: row.to_revision,
    phase: row.phase as RolloutPhase,
    state: parseState(row.id, row.state),
    reason: row.reason,
    error: row.error,
    generation: row.generation,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  };
}

function toEvent(row: Selectable<EventsTable>): EventRecord {
  return {
    id: row.id,
    app: row.app,
    rolloutId: row.rollout_id,
    at: row.at,
    type: row.type,
    message: row.message,
    data: fromJson(row.data),
  };
}

function toIncident(row: Selectable<IncidentsTable>): IncidentRecord {
  return {
    id: row.id,
    app: row.app,
    rolloutId: row.rollout_id,
    severity: row.severity as Severity,
    status: row.status as IncidentStatus,
    title: row.title,
    data: fromJson(row.data),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    resolvedAt: row.resolved_at,
  };
}

function toDrill(row: Selectable<DrillsTable>): DrillRecord {
  return {
    id: row.id,
    app: row.app,
    version: row.version,
    status: row.status as DrillStatus,
    report: fromJson(row.report),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  };
}

function isTerminal(phase: RolloutPhase): boolean {
  return TERMINAL_PHASES.includes(phase);
}

function unknownApp(app: string, cause?: unknown): Error {
  return new StoreNotFoundError('app', app, `store: unknown app ${app}; call apps.upsert first`, cause);
}

export function createKyselyStore(db: Kysely<Database>, options: KyselyStoreOptions): Store {
  const now = options.now ?? Date.now;
  let closed: Promise<void> | undefined;
  const eventListeners = new Set<(event: EventRecord) => void>();

  const getRollout = async (id: string) => {
    const row = await db.selectFrom('rollouts').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRollout(row);
  };

  const activeRollout = async (app: string) => {
    const row = await db
      .selectFrom('rollouts')
      .selectAll()
      .where('app', '=', app)
      .where('finished_at', 'is', null)
      .executeTakeFirst();
    return row && toRollout(row);
  };

  /** One attempt at creating a revision; the apps row is the per-app lock (row lock in PostgreSQL). */
  const createRevisionOnce = async (trx: Transaction<Database>, input: NewRevision) => {
    const bumped = await trx
      .updateTable('apps')
      .set((eb) => ({ revision_seq: eb('revision_seq', '+', 1) }))
      .where('name', '=', input.app)
      .returning('revision_seq')
      .executeTakeFirst();
    if (!bumped) throw unknownApp(input.app);
    let number = bumped.revision_seq;
    // Self-heal if revisions were written without the counter (e.g. restored from elsewhere).
    const newest = await trx
      .selectFrom('revisions')
      .select('number')
      .where('app', '=', input.app)
      .orderBy('number', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (newest && newest.number >= number) {
      number = newest.number + 1;
      await trx.updateTable('apps').set({ revision_seq: number }).where('name', '=', input.app).execute();
    }
    const row = await trx
      .insertInto('revisions')
      .values({
        app: input.app,
        number,
        version: input.version,
        spec: toJson(input.spec),
        copied_from: input.copiedFrom ?? null,
        reason: input.reason ?? null,
        created_at: now(),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toRevision(row);
  };

  const insertRollout = async (executor: Kysely<Database>, input: NewRollout) => {
    const at = now();
    const row = await executor
      .insertInto('rollouts')
      .values({
        id: input.id,
        app: input.app,
        kind: input.kind,
        strategy: input.strategy,
        from_revision: input.fromRevision,
        to_revision: input.toRevision,
        phase: input.phase,
        state: toJson(input.state),
        reason: input.reason ?? null,
        error: null,
        generation: 1,
        created_at: at,
        updated_at: at,
        finished_at: isTerminal(input.phase) ? at : null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toRollout(row);
  };

  /**
   * One transaction whose commit does not wait for the disk: it is in the database's log at once
   * (a crash of this process loses nothing) and on the disk with the next durable commit.
   * SQLite: synchronous=normal for this transaction (WAL frames written, not fsynced; the next
   * synchronous=full commit's fsync of the WAL covers them). PostgreSQL: synchronous_commit off
   * for it (the next synchronous commit flushes the WAL up to and past it).
   */
  const flushWithNext = <T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> =>
    options.dialect === 'postgres'
      ? db.transaction().execute(async (trx) => {
          await sql`set local synchronous_commit = off`.execute(trx);
          return fn(trx);
        })
      : db.connection().execute(async (conn) => {
          await sql`pragma synchronous = normal`.execute(conn);
          try {
            return await conn.transaction().execute(fn);
          } finally {
            await sql`pragma synchronous = full`.execute(conn);
          }
        });

  /** Runs an insert of a rollout, mapping the database's refusals; retried if the active one just ended. */
  const withRolloutRetry = async <T>(app: string, id: string, insert: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await insert();
      } catch (err) {
        if (isForeignKeyViolation(err)) throw unknownApp(app, err);
        if (isUniqueViolation(err, UNIQUE_KEYS.rolloutId)) {
          throw new Error(`store: rollout id ${id} already exists`, { cause: err });
        }
        if (isUniqueViolation(err, UNIQUE_KEYS.revisionNumber) && attempt < MAX_ATTEMPTS) continue;
        if (!isUniqueViolation(err, UNIQUE_KEYS.activeRollout)) throw err;
        const active = await activeRollout(app);
        if (active) throw new RolloutConflictError(app, active.id);
        // The active one finished between our insert and the lookup: try again.
        if (attempt >= MAX_ATTEMPTS) throw err;
      }
    }
  };

  const store: Store = {
    dialect: options.dialect,

    apps: {
      async upsert(name, spec) {
        const at = now();
        const row = await db
          .insertInto('apps')
          .values({ name, spec: toJson(spec), stable_revision: null, created_at: at, updated_at: at })
          .onConflict((oc) => oc.column('name').doUpdateSet({ spec: toJson(spec), updated_at: at }))
          .returningAll()
          .executeTakeFirstOrThrow();
        return toApp(row);
      },

      async get(name) {
        const row = await db.selectFrom('apps').selectAll().where('name', '=', name).executeTakeFirst();
        return row && toApp(row);
      },

      async list() {
        const rows = await db.selectFrom('apps').selectAll().orderBy('name').execute();
        return rows.map(toApp);
      },

      async setStableRevision(name, revision) {
        const result = await db
          .updateTable('apps')
          .set({ stable_revision: revision, updated_at: now() })
          .where('name', '=', name)
          .executeTakeFirst();
        if (result.numUpdatedRows === 0n) throw unknownApp(name);
      },

      async setMaintenance(name, maintenance) {
        const result = await db
          .updateTable('apps')
          .set({ maintenance: maintenance === null ? null : toJson(maintenance), updated_at: now() })
          .where('name', '=', name)
          .executeTakeFirst();
        if (result.numUpdatedRows === 0n) throw unknownApp(name);
      },
    },

    revisions: {
      async create(input) {
        for (let attempt = 1; ; attempt++) {
          try {
            return await db.transaction().execute((trx) => createRevisionOnce(trx, input));
          } catch (err) {
            if (isForeignKeyViolation(err)) throw unknownApp(input.app, err);
            if (!isUniqueViolation(err, UNIQUE_KEYS.revisionNumber) || attempt >= MAX_ATTEMPTS) throw err;
          }
        }
      },

      async get(app, number) {
        const row = await db
          .selectFrom('revisions')
          .selectAll()
          .where('app', '=', app)
          .where('number', '=', number)
          .executeTakeFirst();
        return row && toRevision(row);
      },

      async list(app, limit) {
        let query = db.selectFrom('revisions').selectAll().where('app', '=', app).orderBy('number', 'desc');
        if (limit !== undefined) query = query.limit(Math.max(0, limit));
        return (await query.execute()).map(toRevision);
      },

      async replaceSpecs(updates) {
        await db.transaction().execute(async (trx) => {
          for (const u of updates) {
            const r = await trx
              .updateTable('revisions')
              .set({ spec: toJson(u.spec) })
              .where('app', '=', u.app)
              .where('number', '=', u.number)
              .executeTakeFirst();
            if (r.numUpdatedRows === 0n) throw new Error(`store: app ${u.app} has no revision ${u.number}`);
          }
        });
      },

      async prune(app, keep, protect) {
        // One statement: the newest `keep` are computed and the rest deleted atomically.
        let query = db
          .deleteFrom('revisions')
          .where('app', '=', app)
          .where('number', 'not in', (eb) =>
            eb
              .selectFrom('revisions')
              .select('number')
              .where('app', '=', app)
              .orderBy('number', 'desc')
              .limit(Math.max(0, Math.floor(keep))),
          );
        if (protect.length > 0) query = query.where('number', 'not in', [...protect]);
        const result = await query.executeTakeFirst();
        return Number(result.numDeletedRows);
      },
    },

    rollouts: {
      async create(input) {
        return withRolloutRetry(input.app, input.id, () => insertRollout(db, input));
      },

      async createWithRevision(revision, rollout, options = {}) {
        const write = async (trx: Transaction<Database>) => {
          const created = await createRevisionOnce(trx, revision);
          const row = await insertRollout(trx, { ...rollout, app: revision.app, toRevision: created.number });
          return { revision: created, rollout: row };
        };
        return withRolloutRetry(revision.app, rollout.id, () =>
          options.flush === 'next' ? flushWithNext(write) : db.transaction().execute(write),
        );
      },

      get: getRollout,

      active: activeRollout,

      async listActive() {
        const rows = await db
          .selectFrom('rollouts')
          .selectAll()
          .where('finished_at', 'is', null)
          .orderBy('created_at')
          .orderBy('app')
          .execute();
        return rows.map(toRollout);
      },

      async list(app, limit) {
        let query = db
          .selectFrom('rollouts')
          .selectAll()
          .where('app', '=', app)
          .orderBy('created_at', 'desc')
          .orderBy('to_revision', 'desc')
          .orderBy('id', 'desc');
        if (limit !== undefined) query = query.limit(Math.max(0, limit));
        return (await query.execute()).map(toRollout);
      },

      async update(id, patch: RolloutPatch, expectedGeneration) {
        const at = now();
        let query = db
          .updateTable('rollouts')
          .set((eb) => ({
            generation: eb('generation', '+', 1),
            updated_at: at,
            ...(patch.phase !== undefined && { phase: patch.phase }),
            ...(patch.state !== undefined && { state: toJson(patch.state) }),
            ...(patch.error !== undefined && { error: patch.error }),
            ...(patch.finishedAt !== undefined
              ? { finished_at: patch.finishedAt }
              : patch.phase !== undefined &&
                isTerminal(patch.phase) && { finished_at: eb.fn.coalesce('finished_at', eb.val(at)) }),
          }))
          .where('id', '=', id);
        if (expectedGeneration !== undefined) query = query.where('generation', '=', expectedGeneration);
        let row: Selectable<RolloutsTable> | undefined;
        try {
          row = await query.returningAll().executeTakeFirst();
        } catch (err) {
          // Only reachable by re-opening a finished rollout (finishedAt: null) while another is active.
          if (!isUniqueViolation(err, UNIQUE_KEYS.activeRollout)) throw err;
          const current = await getRollout(id);
          const active = current && (await activeRollout(current.app));
          if (current && active) throw new RolloutConflictError(current.app, active.id);
          throw err;
        }
        if (row) return toRollout(row);
        const exists = await db.selectFrom('rollouts').select('id').where('id', '=', id).executeTakeFirst();
        if (!exists) throw new StoreNotFoundError('rollout', id, `store: rollout ${id} not found`);
        throw new StaleWriteError(id, expectedGeneration ?? Number.NaN);
      },
    },

    events: {
      async append(event: NewEvent) {
        const row = await db
          .insertInto('events')
          .values({
            app: event.app,
            rollout_id: event.rolloutId ?? null,
            at: event.at ?? now(),
            type: event.type,
            message: event.message,
            data: toJson(event.data),
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        const appended = toEvent(row);
        for (const listener of eventListeners) listener(appended);
        return appended;
      },

      onAppend(listener) {
        eventListeners.add(listener);
        return () => eventListeners.delete(listener);
      },

      async list(filter) {
        let query = db.selectFrom('events').selectAll().orderBy('id');
        if (filter.app !== undefined) query = query.where('app', '=', filter.app);
        if (filter.rolloutId !== undefined) query = query.where('rollout_id', '=', filter.rolloutId);
        if (filter.afterId !== undefined) query = query.where('id', '>', filter.afterId);
        if (filter.limit !== undefined) query = query.limit(Math.max(0, filter.limit));
        return (await query.execute()).map(toEvent);
      },
    },

    incidents: {
      async create(input: NewIncident) {
        const at = now();
        const status = input.status ?? 'Open';
        try {
          const row = await db
            .insertInto('incidents')
            .values({
              id: input.id,
              app: input.app,
              rollout_id: input.rolloutId ?? null,
              severity: input.severity,
              status,
              title: input.title,
              data: toJson(input.data),
              created_at: at,
              updated_at: at,
              resolved_at: status === 'Resolved' ? at : null,
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          return toIncident(row);
        } catch (err) {
          if (isForeignKeyViolation(err)) throw unknownApp(input.app, err);
          if (isUniqueViolation(err, UNIQUE_KEYS.incidentId)) {
            throw new Error(`store: incident id ${input.id} already exists`, { cause: err });
          }
          throw err;
        }
      },

      async get(id) {
        const row = await db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst();
        return row && toIncident(row);
      },

      async list(filter = {}) {
        let query = db
          .selectFrom('incidents')
          .selectAll()
          .orderBy('created_at', 'desc')
          .orderBy('id', 'desc');
        if (filter.app !== undefined) query = query.where('app', '=', filter.app);
        if (filter.limit !== undefined) query = query.limit(Math.max(0, filter.limit));
        return (await query.execute()).map(toIncident);
      },

      async update(id, patch: IncidentPatch) {
        const at = now();
        const row = await db
          .updateTable('incidents')
          .set((eb) => ({
            updated_at: at,
            ...(patch.severity !== undefined && { severity: patch.severity }),
            ...(patch.status !== undefined && { status: patch.status }),
            ...(patch.title !== undefined && { title: patch.title }),
            ...(patch.data !== undefined && { data: toJson(patch.data) }),
            ...(patch.resolvedAt !== undefined
              ? { resolved_at: patch.resolvedAt }
              : patch.status === 'Resolved' && { resolved_at: eb.fn.coalesce('resolved_at', eb.val(at)) }),
          }))
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst();
        if (!row) throw new StoreNotFoundError('incident', id, `store: incident ${id} not found`);
        return toIncident(row);
      },
    },

    drills: {
      async create(input: NewDrill) {
        const at = now();
        try {
          const row = await db
            .insertInto('drills')
            .values({
              id: input.id,
              app: input.app,
              version: input.version,
              status: 'Running',
              report: toJson(input.report),
              created_at: at,
              updated_at: at,
              finished_at: null,
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          return toDrill(row);
        } catch (err) {
          if (isForeignKeyViolation(err)) throw unknownApp(input.app, err);
          if (isUniqueViolation(err, UNIQUE_KEYS.drillId))
            throw new Error(`store: drill id ${input.id} already exists`, { cause: err });
          throw err;
        }
      },

      async get(id) {
        const row = await db.selectFrom('drills').selectAll().where('id', '=', id).executeTakeFirst();
        return row && toDrill(row);
      },

      async list(filter = {}) {
        let query = db.selectFrom('drills').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc');
        if (filter.app !== undefined) query = query.where('app', '=', filter.app);
        if (filter.status !== undefined) query = query.where('status', '=', filter.status);
        if (filter.limit !== undefined) query = query.limit(Math.max(0, filter.limit));
        return (await query.execute()).map(toDrill);
      },

      async update(id, patch: DrillPatch) {
        const at = now();
        const row = await db
          .updateTable('drills')
          .set({
            updated_at: at,
            ...(patch.status !== undefined && {
              status: patch.status,
              finished_at: patch.status === 'Running' ? null : at,
            }),
            ...(patch.report !== undefined && { report: toJson(patch.report) }),
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst();
        if (!row) throw new StoreNotFoundError('drill', id, `store: drill ${id} not found`);
        return toDrill(row);
      },
    },

    flagSets: {
      async create(input: NewFlagSet) {
        // The apps row is the per-app lock (as for revisions): versions are handed out one at a time.
        const once = (trx: Transaction<Database>) => async () => {
          const locked = await trx
            .updateTable('apps')
            .set((eb) => ({ revision_seq: eb.ref('revision_seq') }))
            .where('name', '=', input.app)
            .executeTakeFirst();
          if (locked.numUpdatedRows === 0n) throw unknownApp(input.app);
          const newest = await trx
            .selectFrom('flag_sets')
            .select('version')
            .where('app', '=', input.app)
            .orderBy('version', 'desc')
            .limit(1)
            .executeTakeFirst();
          const row = await trx
            .insertInto('flag_sets')
            .values({
              app: input.app,
              version: (newest?.version ?? 0) + 1,
              document: toJson(input.document),
              author: input.author,
              reason: input.reason ?? null,
              diff: toJson(input.diff),
              copied_from: input.copiedFrom ?? null,
              created_at: now(),
              warnings: toJson(input.warnings ?? []),
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          await options.changes?.notify(trx, { app: row.app, version: row.version });
          return toFlagSet(row);
        };
        for (let attempt = 1; ; attempt++) {
          try {
            return await db.transaction().execute((trx) => once(trx)());
          } catch (err) {
            if (isForeignKeyViolation(err)) throw unknownApp(input.app, err);
            if (!isUniqueViolation(err, UNIQUE_KEYS.flagSetVersion) || attempt >= MAX_ATTEMPTS) throw err;
          }
        }
      },

      async get(app, version) {
        const row = await db
          .selectFrom('flag_sets')
          .selectAll()
          .where('app', '=', app)
          .where('version', '=', version)
          .executeTakeFirst();
        return row && toFlagSet(row);
      },

      async latest(app) {
        const row = await db
          .selectFrom('flag_sets')
          .selectAll()
          .where('app', '=', app)
          .orderBy('version', 'desc')
          .limit(1)
          .executeTakeFirst();
        return row && toFlagSet(row);
      },

      async list(app, limit) {
        let query = db.selectFrom('flag_sets').selectAll().where('app', '=', app).orderBy('version', 'desc');
        if (limit !== undefined) query = query.limit(Math.max(0, limit));
        return (await query.execute()).map(toFlagSet);
      },

      watch(listener) {
        return options.changes?.watch(listener) ?? (() => {});
      },
    },

    tokens: {
      async create(input) {
        try {
          const row = await db
            .insertInto('api_tokens')
            .values({
              id: input.id,
              name: input.name,
              role: input.role,
              app: input.app ?? null,
              hash: input.hash,
              created_at: now(),
              expires_at: input.expiresAt ?? null,
              revoked_at: null,
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          return toToken(row);
        } catch (err) {
          if (isUniqueViolation(err, UNIQUE_KEYS.activeTokenName)) throw new TokenNameTakenError(input.name);
          throw err;
        }
      },

      async byHash(hash) {
        const row = await db.selectFrom('api_tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
        return row && toToken(row);
      },

      async list() {
        const rows = await db
          .selectFrom('api_tokens')
          .selectAll()
          .orderBy('created_at')
          .orderBy('id')
          .execute();
        return rows.map(toToken);
      },

      async revoke(name) {
        const result = await db
          .updateTable('api_tokens')
          .set({ revoked_at: now() })
          .where('name', '=', name)
          .where('revoked_at', 'is', null)
          .executeTakeFirst();
        return result.numUpdatedRows > 0n;
      },
    },

    audit: {
      async append(entry, hashOf) {
        for (let attempt = 1; ; attempt++) {
          const head = await db
            .selectFrom('audit_log')
            .select('hash')
            .orderBy('id', 'desc')
            .limit(1)
            .executeTakeFirst();
          const prevHash = head?.hash ?? AUDIT_GENESIS;
          try {
            const row = await db
              .insertInto('audit_log')
              .values({
                at: entry.at,
                actor: entry.actor,
                role: entry.role,
                remote: entry.remote,
                method: entry.method,
                route: entry.route,
                app: entry.app,
                revision: entry.revision,
                outcome: entry.outcome,
                status: entry.status,
                reason: entry.reason,
                prev_hash: prevHash,
                hash: hashOf(prevHash),
              })
              .returningAll()
              .executeTakeFirstOrThrow();
            return toAudit(row);
          } catch (err) {
            if (!isUniqueViolation(err, UNIQUE_KEYS.auditPrevHash) || attempt >= MAX_ATTEMPTS * 4) throw err;
          }
        }
      },

      async list(filter = {}) {
        let query = db.selectFrom('audit_log').selectAll().orderBy('id');
        if (filter.app !== undefined) query = query.where('app', '=', filter.app);
        if (filter.sinceAt !== undefined) query = query.where('at', '>=', filter.sinceAt);
        if (filter.afterId !== undefined) query = query.where('id', '>', filter.afterId);
        if (filter.limit !== undefined) query = query.limit(Math.max(0, filter.limit));
        return (await query.execute()).map(toAudit);
      },
    },

    analysis: {
      async record(rolloutId, seconds, keepFrom) {
        try {
          await db.transaction().execute(async (trx) => {
            // In slices: one statement stays under both databases' limits on bound parameters.
            for (let i = 0; i < seconds.length; i += 500) {
              await trx
                .insertInto('analysis_seconds')
                .values(
                  seconds.slice(i, i + 500).map((s) => ({
                    rollout_id: rolloutId,
                    revision: s.revision,
                    second: s.second,
                    data: toJson(s.data),
                  })),
                )
                .onConflict((oc) =>
                  oc
                    .columns(['rollout_id', 'second', 'revision'])
                    .doUpdateSet((eb) => ({ data: eb.ref('excluded.data') })),
                )
                .execute();
            }
            await trx
              .deleteFrom('analysis_seconds')
              .where('rollout_id', '=', rolloutId)
              .where('second', '<', keepFrom)
              .execute();
          });
        } catch (err) {
          if (isForeignKeyViolation(err))
            throw new StoreNotFoundError('rollout', rolloutId, `store: unknown rollout ${rolloutId}`, err);
          throw err;
        }
      },

      async load(rolloutId) {
        const rows = await db
          .selectFrom('analysis_seconds')
          .selectAll()
          .where('rollout_id', '=', rolloutId)
          .orderBy('revision')
          .orderBy('second')
          .execute();
        return rows.map((r) => ({ revision: r.revision, second: r.second, data: fromJson(r.data) }));
      },

      async drop(rolloutId, revision) {
        let query = db.deleteFrom('analysis_seconds').where('rollout_id', '=', rolloutId);
        if (revision !== undefined) query = query.where('revision', '=', revision);
        await query.execute();
      },
    },

    close() {
      closed ??= Promise.all([db.destroy(), options.changes?.close()]).then(() => {});
      return closed;
    },
  };
  return store;
}
