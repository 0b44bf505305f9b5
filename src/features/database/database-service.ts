// An app's database as the rest of Rewind sees it: the migrations a version brings, checked
// before a deploy; expand and contract steps of a rollout; undo on rollback; backups, restore and
// verification; and the `rewind db` operations. Opens one connection per operation: migrations are
// rare and short, and a connection held between them would only hold locks.
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute } from 'node:path';
import { RewindError } from '../../shared/errors.ts';
import { type DatabaseSpec, databaseUrl, migrationsDir, resolveSqliteUrl } from '../../spec/database-spec.ts';
import type { VerificationCheck } from '../incidents/incident.ts';
import {
  backupForMigration,
  describeMerge,
  listBackups,
  type MergeOptions,
  mergeBackups,
  pruneBackups,
  RestoreRefused,
  recordRemoved,
  restoreBackup,
} from './backups.ts';
import { openDatabase, redactUrl } from './engines/registry.ts';
import type { DatabaseEngine } from './engines/types.ts';
import { lintMigrations } from './lint.ts';
import { loadMigrations, MigrationFileError } from './migration-files.ts';
import { createMigrator, levelOf, type MigrationResultSet, type MigrationStatus } from './migrator.ts';
import type { AppEntry, DbStepResult, RevisionDb, RolloutDatabase, UndoScope } from './rollout-database.ts';
import { type RoundTripReport, roundTrip } from './roundtrip.ts';
import type { Migration, MigrationLint } from './types.ts';
import { verifyDatabase } from './verify.ts';

export interface PlanEntry {
  readonly key: string;
  readonly id: number;
  readonly phase: 'expand' | 'contract';
  readonly state: 'applied' | 'pending' | 'interrupted' | 'changed';
  /** When it runs in a deploy: before the new revision starts, or after the bake. */
  readonly when: 'before traffic' | 'after bake' | 'on rewind db contract' | 'done';
  readonly findings: MigrationLint['findings'];
}

export interface DbPlan {
  readonly app: string;
  readonly version: string;
  readonly engine: string;
  readonly database: string;
  readonly folder: string;
  readonly currentLevel: number;
  readonly targetLevel: number;
  readonly entries: readonly PlanEntry[];
  /** Migrations applied that this version's folder does not have (a newer version's). */
  readonly unknown: readonly string[];
}

const dbError = (message: string, details: Record<string, unknown> = {}) =>
  new RewindError('VALIDATION_FAILED', message, details);

export class DatabaseService implements RolloutDatabase {
  readonly #env: NodeJS.ProcessEnv;
  readonly #roundTrips = new Set<string>();
  /** Recorded in the ledger beside each migration this controller applies. */
  readonly controllerId: string;

  constructor(options: { env?: NodeJS.ProcessEnv; controllerId?: string } = {}) {
    this.#env = options.env ?? process.env;
    this.controllerId = options.controllerId ?? hostname();
  }

  #spec(ctx: AppEntry): DatabaseSpec {
    const spec = ctx.spec.database;
    if (!spec)
      throw dbError(
        `app ${ctx.spec.name} declares no database; add a database: section to its rewind.yaml entry`,
        {
          field: 'database',
        },
      );
    return spec;
  }

  /** The connection URL; a relative SQLite path resolved from rewind.yaml's folder. */
  #url(ctx: AppEntry, spec: DatabaseSpec): string {
    let url: string;
    try {
      url = databaseUrl(spec, this.#env);
    } catch (err) {
      throw dbError((err as Error).message, { field: 'database.urlEnv' });
    }
    return spec.engine === 'sqlite' ? resolveSqliteUrl(url, ctx.baseDir) : url;
  }

  async #open(ctx: AppEntry): Promise<DatabaseEngine> {
    const spec = this.#spec(ctx);
    const url = this.#url(ctx, spec);
    // The first open creates the SQLite file, and its folder with it.
    if (spec.engine === 'sqlite' && isAbsolute(url)) mkdirSync(dirname(url), { recursive: true });
    try {
      return await openDatabase(spec.engine, url);
    } catch (err) {
      throw new RewindError(
        'AGENT_UNAVAILABLE',
        `cannot connect to the ${spec.engine} database of app ${ctx.spec.name} at ${redactUrl(url)}: ${(err as Error).message}`,
        { field: 'database.url' },
      );
    }
  }

  async #with<T>(ctx: AppEntry, fn: (db: DatabaseEngine) => Promise<T>): Promise<T> {
    const db = await this.#open(ctx);
    try {
      return await fn(db);
    } finally {
      await db.close().catch(() => {});
    }
  }

  /** The migrations of `version`'s folder; a malformed folder is a clear VALIDATION_FAILED. */
  async migrations(ctx: AppEntry, version: string): Promise<Migration[]> {
    const spec = this.#spec(ctx);
    const dir = migrationsDir(spec, ctx.baseDir, version);
    try {
      return await loadMigrations(dir, spec.engine);
    } catch (err) {
      if (err instanceof MigrationFileError)
        throw dbError(err.message, { field: 'database.migrations', file: err.file });
      throw err;
    }
  }

  lint(ctx: AppEntry, migrations: readonly Migration[]): MigrationLint[] {
    return lintMigrations(migrations, this.#spec(ctx).engine);
  }

  /**
   * Before a deploy creates its revision: the folder loads, no migration has a file-level error
   * (a missing down, a wrong phase declaration, mixed phases), and a contract migration has a
   * backup to go with it. Returns the version's migration level.
   */
  async prepare(ctx: AppEntry, version: string): Promise<number> {
    const spec = this.#spec(ctx);
    const migrations = await this.migrations(ctx, version);
    const lints = this.lint(ctx, migrations);
    const blocking = lints.flatMap((l) =>
      l.findings.filter((f) => f.severity === 'error' && f.code.startsWith('RW3')),
    );
    if (blocking.length) {
      throw dbError(
        `the migrations of ${version} cannot be rolled out safely:\n${blocking
          .map((f) => `  ${f.code} ${f.rule} ${f.file}:${f.line}: ${f.message}. Fix: ${f.fix}`)
          .join('\n')}\n(rewind db lint ${ctx.spec.name} --version ${version} lists every finding)`,
        { field: 'database.migrations', findings: blocking },
      );
    }
    const contract = lints.filter((l) => l.effectivePhase === 'contract');
    if (contract.length && spec.backup === false) {
      throw dbError(
        `${contract.map((l) => l.migration).join(', ')} ${contract.length === 1 ? 'is a contract (destructive) migration' : 'are contract (destructive) migrations'} and app ${ctx.spec.name} has database.backup: false; set database.backup: { keep: 5 } so the tables it changes are backed up first`,
        { field: 'database.backup' },
      );
    }
    return migrations.reduce((m, x) => Math.max(m, x.id), 0);
  }

  #runOptions(spec: DatabaseSpec) {
    return {
      lockTimeoutMs: spec.lockTimeout,
      retries: spec.retries,
      retryDelayMs: spec.retryDelay,
      checksumRowLimit: spec.verify.checksumRowLimit,
    };
  }

  async plan(ctx: AppEntry, version: string): Promise<DbPlan> {
    const spec = this.#spec(ctx);
    const migrations = await this.migrations(ctx, version);
    const lints = new Map(this.lint(ctx, migrations).map((l) => [l.migration, l]));
    const status = await this.#with(ctx, (db) =>
      createMigrator(db, { app: ctx.spec.name }).status(migrations),
    );
    return this.#toPlan(ctx, spec, version, migrations, lints, status);
  }

  #toPlan(
    ctx: AppEntry,
    spec: DatabaseSpec,
    version: string,
    migrations: readonly Migration[],
    lints: Map<string, MigrationLint>,
    status: MigrationStatus,
  ): DbPlan {
    const applied = new Set(status.applied.map((e) => e.key));
    const interrupted = new Set(status.interrupted.map((e) => e.key));
    const changed = new Set(status.checksumMismatches.map((e) => e.key));
    let sawContract = false;
    const entries = migrations.map((m): PlanEntry => {
      const lint = lints.get(m.key);
      const phase = lint?.effectivePhase ?? 'expand';
      const state = changed.has(m.key)
        ? 'changed'
        : interrupted.has(m.key)
          ? 'interrupted'
          : applied.has(m.key)
            ? 'applied'
            : 'pending';
      // Expand migrations run before traffic up to the first contract one; the rest after the bake.
      if (state === 'pending' && phase === 'contract') sawContract = true;
      const when =
        state === 'applied'
          ? 'done'
          : !sawContract
            ? 'before traffic'
            : spec.contract === 'auto'
              ? 'after bake'
              : 'on rewind db contract';
      return { key: m.key, id: m.id, phase, state, when, findings: lint?.findings ?? [] };
    });
    let url = '';
    try {
      url = redactUrl(databaseUrl(spec, this.#env));
    } catch {}
    return {
      app: ctx.spec.name,
      version,
      engine: spec.engine,
      database: url,
      folder: migrationsDir(spec, ctx.baseDir, version),
      currentLevel: status.currentLevel,
      targetLevel: migrations.reduce((m, x) => Math.max(m, x.id), 0),
      entries,
      unknown: status.unknown.map((e) => e.key),
    };
  }

  async expand(ctx: AppEntry, revision: RevisionDb, rolloutId: string): Promise<DbStepResult> {
    return this.#up(ctx, revision, 'expand', rolloutId);
  }

  async contract(ctx: AppEntry, revision: RevisionDb, rolloutId: string): Promise<DbStepResult> {
    return this.#up(ctx, revision, 'contract', rolloutId);
  }

  /** Runs `version`'s pending migrations: expand ones only, or (contract) all that remain, each contract one after a backup. */
  async migrate(
    ctx: AppEntry,
    revision: RevisionDb,
    phase: 'expand' | 'contract' | 'all',
  ): Promise<DbStepResult> {
    return this.#up(ctx, revision, phase, 'manual');
  }

  async #up(
    ctx: AppEntry,
    revision: RevisionDb,
    phase: 'expand' | 'contract' | 'all',
    rolloutId: string,
  ): Promise<DbStepResult> {
    const spec = this.#spec(ctx);
    let migrations: Migration[];
    try {
      migrations = await this.migrations(ctx, revision.version);
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
    const toLevel = revision.migrationLevel ?? migrations.reduce((m, x) => Math.max(m, x.id), 0);
    const lints = new Map(this.lint(ctx, migrations).map((l) => [l.migration, l]));
    try {
      return await this.#with(ctx, async (db) => {
        const migrator = createMigrator(db, { app: ctx.spec.name });
        const before = await migrator.status(migrations);
        const options = {
          ...this.#runOptions(spec),
          revision: revision.number,
          rolloutId,
          controller: this.controllerId,
        };
        const results: MigrationResultSet['results'][number][] = [];
        const backups: string[] = [];
        // The level under the advisory lock: another controller may have migrated meanwhile.
        let levelBefore: number | undefined;
        if (phase === 'expand') {
          const r = await migrator.migrateUp(migrations, { ...options, phase: 'expand', toLevel });
          levelBefore = r.levelBefore;
          results.push(...r.results);
          if (r.error) return failed(r, results, await levelNow());
        } else {
          // After the bake everything that remains runs in order; a contract migration only after
          // the tables it touches are backed up.
          for (const m of before.pending.filter((p) => p.id <= toLevel)) {
            const lint = lints.get(m.key);
            if (lint?.effectivePhase === 'contract') {
              if (spec.backup === false)
                return {
                  ok: false,
                  reason: `${m.key} is a contract migration and database.backup is false; set database.backup: { keep: 5 }`,
                };
              const existing = new Set(await db.listTables());
              const tables = lint.touchedTables.filter((t) => existing.has(t));
              if (tables.length)
                backups.push(
                  await backupForMigration(db, m, tables, { app: ctx.spec.name, revision: revision.number }),
                );
            }
            const r = await migrator.migrateUp(migrations, { ...options, phase: 'all', toLevel: m.id });
            levelBefore ??= r.levelBefore;
            results.push(...r.results);
            if (r.error) return failed(r, results, await levelNow());
            // What it removed (columns, tables, rows) is what a rollback merges back.
            const taken = (await listBackups(db, ctx.spec.name)).find((b) => b.migrationKey === m.key);
            if (taken && r.results.some((x) => x.key === m.key && x.status === 'Success'))
              await recordRemoved(db, taken.backupId);
          }
          if (spec.backup !== false && backups.length)
            await pruneBackups(db, ctx.spec.name, spec.backup.keep);
        }
        const after = await migrator.status(migrations);
        const ran = results.filter((r) => r.status === 'Success').map((r) => r.key);
        const from = levelBefore ?? after.currentLevel;
        return {
          ok: true,
          levelBefore: from,
          levelAfter: after.currentLevel,
          detail: ran.length
            ? `${phase === 'expand' ? 'expand' : 'remaining'} migrations applied: ${ran.join(', ')} (level ${from} -> ${after.currentLevel})${backups.length ? `; backups ${backups.join(', ')}` : ''}${crashNotes(results)}`
            : `no ${phase === 'expand' ? 'expand ' : ''}migration pending (level ${after.currentLevel})`,
          data: { results, backups },
        };
        async function levelNow() {
          return levelOf(await migrator.ledger().catch(() => []));
        }
      });
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
  }

  async undo(
    ctx: AppEntry,
    toLevel: number,
    only: 'contract' | 'all',
    rolloutId: string,
    scope: UndoScope = 'controller',
  ): Promise<DbStepResult> {
    const spec = this.#spec(ctx);
    try {
      return await this.#with(ctx, async (db) => {
        const migrator = createMigrator(db, { app: ctx.spec.name });
        const before = (await migrator.ledger()).filter(
          (e) => e.state === 'applied' || e.state === 'applying' || e.state === 'reverting',
        );
        const levelBefore = before.reduce((m, e) => Math.max(m, e.id), 0);
        // The down files recorded in the ledger when each migration was applied do the work.
        const r = await migrator.migrateDown([], {
          ...this.#runOptions(spec),
          toLevel,
          phase: only,
          owner: { scope, rolloutId, controller: this.controllerId },
        });
        if (r.error) return failed(r, r.results, levelOf(await migrator.ledger().catch(() => [])));
        const undone = r.results.filter((x) => x.status === 'Success').map((x) => x.key);
        const levelAfter = levelOf(await migrator.ledger());
        // What the undone contract migrations removed comes back from their backups, merged.
        const backups = (await listBackups(db, ctx.spec.name)).filter(
          (b, i, all) =>
            undone.includes(b.migrationKey) && all.findIndex((x) => x.migrationKey === b.migrationKey) === i,
        );
        let merged = '';
        let mergeError: string | null = null;
        if (backups.length) {
          try {
            const reports = await mergeBackups(db, ctx.spec.name, backups);
            merged = `; merged back from ${reports.map((x) => x.backupId).join(', ')}: ${describeMerge(reports)}`;
          } catch (err) {
            mergeError = (err as Error).message;
          }
        }
        const left = r.left?.length
          ? `; left applied: ${r.left.map((l) => `${l.key} (${l.reason})`).join('; ')}`
          : '';
        const detail = `${
          undone.length
            ? `undone: ${undone.join(', ')} (level ${levelBefore} -> ${levelAfter})`
            : `nothing undone above level ${toLevel}`
        }${merged}${left}${crashNotes(r.results)}`;
        if (mergeError !== null)
          return {
            ok: false,
            reason: `${detail}; the backed-up values were NOT merged back: ${mergeError}`,
            data: { results: r.results, left: r.left ?? [] },
          };
        return {
          ok: true,
          levelBefore,
          levelAfter,
          detail,
          data: { results: r.results, left: r.left ?? [] },
        };
      });
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
  }

  async verify(ctx: AppEntry, level: number): Promise<VerificationCheck[]> {
    try {
      return await this.#with(ctx, async (db) => {
        const baseline = await createMigrator(db, { app: ctx.spec.name }).baseline(level);
        const v = await verifyDatabase(db, {
          expectedFingerprint: baseline.fingerprint,
          statsBefore: baseline.statsBefore,
          changedTables: baseline.changedTables,
        });
        const names = {
          fingerprint: 'database schema fingerprint',
          unchangedData: 'database data unchanged',
          foreignKeys: 'database foreign keys',
        };
        return v.checks.map((c) => ({
          name: names[c.name],
          passed: c.ok,
          ...(c.status === 'not checked' ? { notChecked: true } : {}),
          detail: c.detail,
        }));
      });
    } catch (err) {
      return [{ name: 'database reachable', passed: false, detail: (err as Error).message }];
    }
  }

  async backup(
    ctx: AppEntry,
    tables: readonly string[] | null,
    revision: number | null,
  ): Promise<{ backupId: string; tables: string[] }> {
    return this.#with(ctx, async (db) => {
      const all = await db.listTables();
      const list = tables?.length ? [...tables] : all;
      const missing = list.filter((t) => !all.includes(t));
      if (missing.length)
        throw dbError(`no table ${missing.join(', ')} in the database; it has: ${all.join(', ') || 'none'}`, {
          field: 'tables',
        });
      const backupId = await backupForMigration(db, { key: 'manual' }, list, {
        app: ctx.spec.name,
        revision,
      });
      return { backupId, tables: list };
    });
  }

  backups(ctx: AppEntry) {
    return this.#with(ctx, (db) => listBackups(db, ctx.spec.name));
  }

  /**
   * Merges back what revision `revision`'s contract migrations removed (backups.ts); with
   * `overwrite`, the backup's rows exactly, deleting rows written since (dryRun first shows which).
   */
  async restore(ctx: AppEntry, revision: number, options: MergeOptions = {}) {
    return this.#with(ctx, async (db) => {
      const backups = (await listBackups(db, ctx.spec.name)).filter((b) => b.revision === revision);
      if (!backups.length) {
        const known =
          [...new Set((await listBackups(db, ctx.spec.name)).map((b) => b.revision))].join(', ') || 'none';
        throw new RewindError(
          'REVISION_NOT_FOUND',
          `no backup was taken for revision ${revision} of app ${ctx.spec.name}; backups exist for revisions: ${known}`,
          { revision },
        );
      }
      try {
        const reports = await restoreBackup(db, { app: ctx.spec.name, revision }, options);
        return reports.map((r) => ({
          ...r,
          tableNames: r.tables.map((t) => t.table),
          summary: describeMerge([r]),
        }));
      } catch (err) {
        if (err instanceof RestoreRefused) throw dbError(err.message, { field: 'toRevision', revision });
        throw err;
      }
    });
  }

  /**
   * Round-trips the version's pending migrations on a scratch copy of the app's schema
   * (roundtrip.ts); one at a time per app, so repeated calls cannot pile up scratch databases.
   */
  async roundTrip(ctx: AppEntry, version: string): Promise<RoundTripReport> {
    const spec = this.#spec(ctx);
    const app = ctx.spec.name;
    if (this.#roundTrips.has(app))
      throw new RewindError(
        'INVALID_STATE',
        `a round trip of app ${app} is already running; wait for its report`,
        {
          app,
        },
      );
    this.#roundTrips.add(app);
    try {
      const url = this.#url(ctx, spec);
      const migrations = await this.migrations(ctx, version);
      return await roundTrip({ app, engine: spec.engine, url, migrations });
    } finally {
      this.#roundTrips.delete(app);
    }
  }

  async verifyNow(ctx: AppEntry, level: number) {
    const checks = await this.verify(ctx, level);
    return { level, passed: checks.every((c) => c.passed), checks };
  }
}

/** What resumed runs found in the catalog about statements in flight when a run stopped. */
function crashNotes(results: MigrationResultSet['results']): string {
  const notes = results.flatMap((r) => (r.recovered ? [r.recovered] : []));
  return notes.length ? `; resumed after an interrupted run: ${notes.join('; ')}` : '';
}

/**
 * The migrator's own message says what state the failed migration is in (rolled back, undone,
 * or still partly applied); this adds only the level the ledger records now.
 */
function failed(
  r: MigrationResultSet,
  results: MigrationResultSet['results'],
  levelNow: number,
): DbStepResult {
  const e = r.error!;
  const at = e.statement ? ` (statement ${e.statement.index + 1}, line ${e.statement.line})` : '';
  const which = results.find((x) => x.status === 'Error')?.key;
  const notes = crashNotes(results);
  const partly =
    e.code === 'INTERRUPTED' || e.code === 'UNDO_FAILED' || e.code === 'DATABASE_ERROR'
      ? '; the database may hold part of that migration: `rewind db status` shows what the ledger records'
      : '';
  return {
    ok: false,
    reason: `${which ? `${which}: ` : ''}${e.code}: ${e.message}${at}; the ledger records level ${levelNow}${partly}${notes}`,
    data: { results, error: e },
  };
}
