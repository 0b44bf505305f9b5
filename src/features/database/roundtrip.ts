// `rewind db roundtrip`: proves each pending migration's down undoes its up, before a release
// needs it. On a scratch copy of the app's current schema (engines/scratch.ts; never the app's
// own database), for each pending migration in order: up, down, compare the schema with the one
// before the up (every difference named), then up again (the classic redo) and compare with the
// schema after the first up. A failing statement is reported with its file and line. The ledger's
// rows come along, so "pending" means what a deploy would run.

import { RewindError } from '../../shared/errors.ts';
import { shapeBuilder } from './engines/fingerprint.ts';
import { openDatabase, redactUrl } from './engines/registry.ts';
import { appDatabaseExists, createScratch, type ScratchDatabase } from './engines/scratch.ts';
import type { DatabaseEngine, Row, SchemaFingerprint } from './engines/types.ts';
import { ensureLedger, readLedger } from './ledger.ts';
import { createMigrator, type MigrationError, type MigrationResultSet } from './migrator.ts';
import { diffSchemas, type SchemaDifference } from './schema-diff.ts';
import type { DatabaseEngineName, Migration } from './types.ts';

export type RoundTripStage = 'up' | 'down' | 'redo';

export interface RoundTripFailure {
  readonly stage: RoundTripStage;
  readonly code: MigrationError['code'];
  readonly message: string;
  /** `path/0003_x.down.sql:7`: the file and line of the statement that failed, when one did. */
  readonly location: string | null;
  readonly statement: string | null;
}

export interface RoundTripMigration {
  readonly key: string;
  readonly id: number;
  /**
   * passed: the down restored the schema exactly and the redo gave the same schema as the up.
   * failed: a stage failed to run, or the schema differs. skipped: not round-tripped (why in note).
   * not run: an earlier migration failed to run, so the scratch is not in a state to go on.
   */
  readonly status: 'passed' | 'failed' | 'skipped' | 'not run';
  readonly ms: { readonly up: number; readonly down: number; readonly redo: number };
  /** The schema after the down against the one before the up. */
  readonly downDifferences: readonly SchemaDifference[];
  /** The schema after the redo against the one after the first up. */
  readonly redoDifferences: readonly SchemaDifference[];
  readonly failure: RoundTripFailure | null;
  readonly note: string | null;
}

export interface RoundTripReport {
  readonly app: string;
  readonly engine: DatabaseEngineName;
  /** The scratch database (name or file), already dropped. */
  readonly scratch: string;
  readonly copiedWith: string;
  readonly levelBefore: number;
  readonly passed: boolean;
  readonly migrations: readonly RoundTripMigration[];
  readonly durationMs: number;
  /** Set when dropping the scratch failed: what to drop by hand. */
  readonly cleanup: string | null;
}

export interface RoundTripProgress {
  readonly key: string;
  /** 1-based place among the pending migrations. */
  readonly index: number;
  readonly total: number;
  readonly stage: RoundTripStage | 'done';
  /** With stage 'done'. */
  readonly result?: RoundTripMigration;
}

export interface RoundTripOptions {
  readonly app: string;
  readonly engine: DatabaseEngineName;
  /** The app's database: read (schema, ledger rows), never written. */
  readonly url: string;
  readonly migrations: readonly Migration[];
  readonly onProgress?: (p: RoundTripProgress) => void;
}

export async function roundTrip(o: RoundTripOptions): Promise<RoundTripReport> {
  const started = Date.now();
  if (!appDatabaseExists(o.engine, o.url)) return onScratch(o, EMPTY, [], started);
  const source = await openDatabase(o.engine, o.url).catch((err) => {
    throw new RewindError(
      'AGENT_UNAVAILABLE',
      `cannot connect to the ${o.engine} database of app ${o.app} at ${redactUrl(o.url)}: ${(err as Error).message}`,
      { field: 'database.url' },
    );
  });
  let shape: SchemaFingerprint;
  let ledgerRows: Row[];
  try {
    shape = await source.schemaFingerprint();
    ledgerRows = await readSourceLedger(source, o.app);
  } finally {
    await source.close().catch(() => {});
  }
  return onScratch(o, shape, ledgerRows, started);
}

/** Everything after the app's database was read (its schema, its ledger rows): it is not opened again. */
async function onScratch(
  o: RoundTripOptions,
  sourceShape: SchemaFingerprint,
  ledgerRows: readonly Row[],
  started: number,
): Promise<RoundTripReport> {
  let scratch: ScratchDatabase | null = null;
  let db: DatabaseEngine | null = null;
  const finish = async (): Promise<string | null> => {
    await db?.close().catch(() => {});
    db = null;
    return (await scratch?.drop()) ?? null;
  };
  try {
    scratch = await createScratch(o.engine, o.url, o.app).catch((err) => {
      throw new RewindError('INVALID_STATE', (err as Error).message, { field: 'database.url' });
    });
    db = await openDatabase(o.engine, scratch.url);
    await ensureLedger(db);
    await copyLedgerRows(db, o.app, ledgerRows);
    const copy = diffSchemas(sourceShape, renamed(await db.schemaFingerprint(), scratch));
    if (copy.length)
      throw new RewindError(
        'INVALID_STATE',
        `the scratch copy (${scratch.copiedWith}) is not the app's schema, so a round trip on it would prove nothing: ${copy.map((d) => d.message).join('; ')}`,
        { differences: copy },
      );
    const { levelBefore, results } = await runAll(db, o);
    return {
      app: o.app,
      engine: o.engine,
      scratch: scratch.name,
      copiedWith: scratch.copiedWith,
      levelBefore,
      passed: results.every((r) => r.status === 'passed' || r.status === 'skipped'),
      migrations: results,
      durationMs: Date.now() - started,
      cleanup: await finish(),
    };
  } finally {
    await finish();
  }
}

const EMPTY: SchemaFingerprint = shapeBuilder().build();
/** The scratch is Rewind's alone: no lock to wait for, no lock timeout worth retrying. */
const RUN = { advisoryLockWaitMs: 5000, retries: 0 };

async function runAll(
  db: DatabaseEngine,
  o: RoundTripOptions,
): Promise<{ levelBefore: number; results: RoundTripMigration[] }> {
  const migrator = createMigrator(db, { app: o.app });
  const status = await migrator.status(o.migrations);
  if (status.interrupted.length || status.checksumMismatches.length) {
    const what = [
      ...status.interrupted.map((r) => `${r.key} is ${r.state} (interrupted)`),
      ...status.checksumMismatches.map((c) => `${c.key} was applied from a different up file`),
    ];
    throw new RewindError(
      'INVALID_STATE',
      `the app's ledger says ${what.join('; ')}: a deploy would refuse to run, so there is nothing to round-trip. Fix the ledger first (rewind db status ${o.app})`,
    );
  }
  const levelBefore = status.currentLevel;
  const pending = [...status.pending].sort((a, b) => a.id - b.id);
  const results: RoundTripMigration[] = [];
  let level = levelBefore;
  let broken: string | null = null;
  let shape: SchemaFingerprint | null = null;
  // Numbered below the level (added out of order): a deploy applies them, so they are applied
  // first, without a round trip (their down cannot run without undoing everything above them).
  const below = pending.filter((m) => m.id < levelBefore);
  const early = below.length
    ? await migrator.migrateUp(o.migrations, { ...RUN, toLevel: levelBefore })
    : null;
  if (early?.error)
    broken = `not run: applying the migrations numbered below level ${levelBefore} failed: ${early.error.message}`;
  for (const [i, m] of pending.entries()) {
    const progress = (stage: RoundTripProgress['stage'], result?: RoundTripMigration) =>
      o.onProgress?.({
        key: m.key,
        index: i + 1,
        total: pending.length,
        stage,
        ...(result ? { result } : {}),
      });
    const base = {
      key: m.key,
      id: m.id,
      ms: { up: 0, down: 0, redo: 0 },
      downDifferences: [],
      redoDifferences: [],
      failure: null,
      note: null,
    };
    let r: RoundTripMigration;
    if (m.id < levelBefore) {
      const failed = early?.results.find((x) => x.key === m.key && x.status === 'Error');
      r = {
        ...base,
        status: failed ? 'failed' : 'skipped',
        failure: failed?.error ? failure('up', m, failed.error) : null,
        note: `numbered below the level ${levelBefore} (added out of order): applied without a round trip, as a deploy would apply it; its down cannot run without undoing the migrations above it. Renumber it above ${levelBefore} to have it round-tripped`,
      };
    } else if (broken) r = { ...base, status: 'not run', note: broken };
    else {
      // The schema after the previous redo is the one before this up: read once.
      shape ??= await db.schemaFingerprint();
      const one = await roundTripOne(db, migrator, o.migrations, m, level, shape, progress);
      r = one.result;
      shape = one.after;
      if (r.failure)
        broken = `not run: ${m.key}'s ${r.failure.stage === 'redo' ? 'up again after its down' : r.failure.stage} failed, so the scratch schema is at no known level`;
      else level = m.id;
    }
    results.push(r);
    progress('done', r);
  }
  return { levelBefore, results };
}

async function roundTripOne(
  db: DatabaseEngine,
  migrator: ReturnType<typeof createMigrator>,
  all: readonly Migration[],
  m: Migration,
  level: number,
  before: SchemaFingerprint,
  progress: (stage: RoundTripStage) => void,
): Promise<{ result: RoundTripMigration; after: SchemaFingerprint | null }> {
  const ms = { up: 0, down: 0, redo: 0 };
  const timed = async (stage: RoundTripStage, fn: () => Promise<MigrationResultSet>) => {
    progress(stage);
    const t = performance.now();
    const r = await fn();
    ms[stage] = Math.round(performance.now() - t);
    return r;
  };
  const result = (
    rest: Pick<RoundTripMigration, 'status'> & Partial<RoundTripMigration>,
  ): RoundTripMigration => ({
    key: m.key,
    id: m.id,
    ms,
    downDifferences: [],
    redoDifferences: [],
    failure: null,
    note: null,
    ...rest,
  });

  const failed = (rest: Partial<RoundTripMigration>) => ({
    result: result({ status: 'failed', ...rest }),
    after: null,
  });

  const up = await timed('up', () => migrator.migrateUp(all, { ...RUN, toLevel: m.id }));
  if (up.error) return failed({ failure: failure('up', m, up.error) });
  const afterUp = await db.schemaFingerprint();

  const down = await timed('down', () => migrator.migrateDown(all, { ...RUN, toLevel: level }));
  if (down.error) return failed({ failure: failure('down', m, down.error) });
  const downDifferences = diffSchemas(before, await db.schemaFingerprint());

  const redo = await timed('redo', () => migrator.migrateUp(all, { ...RUN, toLevel: m.id }));
  if (redo.error) return failed({ downDifferences, failure: failure('redo', m, redo.error) });
  const after = await db.schemaFingerprint();
  const redoDifferences = diffSchemas(afterUp, after);
  const ok = downDifferences.length === 0 && redoDifferences.length === 0;
  return { result: result({ status: ok ? 'passed' : 'failed', downDifferences, redoDifferences }), after };
}

function failure(stage: RoundTripStage, m: Migration, e: MigrationError): RoundTripFailure {
  const file = stage === 'down' ? m.downPath : m.upPath;
  return {
    stage,
    code: e.code,
    message: e.message,
    location: e.statement && file ? `${file}:${e.statement.line}` : null,
    statement: e.statement ? e.statement.sql.trim() : null,
  };
}

/** The app's ledger rows, read without creating anything: no ledger yet means no rows. */
async function readSourceLedger(source: DatabaseEngine, app: string): Promise<Row[]> {
  const exists = await source.query('select 1 as x from rewind_migrations where 1 = 0').then(
    () => true,
    () => false,
  );
  return exists ? source.query('select * from rewind_migrations where app = ?', [app]) : [];
}

/** Copies the app's ledger rows into the scratch unless they came with the copy (SQLite). */
async function copyLedgerRows(db: DatabaseEngine, app: string, rows: readonly Row[]): Promise<void> {
  if (!rows.length || (await readLedger(db, app)).length) return;
  for (const row of rows) {
    const names = Object.keys(row);
    await db.query(
      `insert into rewind_migrations (${names.join(', ')}) values (${names.map(() => '?').join(', ')})`,
      names.map((n) => normalizeValue(row[n])),
    );
  }
}

function normalizeValue(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'bigint') return Number(v);
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) return JSON.stringify(v);
  return v;
}

/** The scratch's fingerprint as the app's would read: MySQL views name their database. */
function renamed(fp: SchemaFingerprint, scratch: ScratchDatabase): SchemaFingerprint {
  if (scratch.engine !== 'mysql') return fp;
  const swap = (s: string) => s.replaceAll(`\`${scratch.name}\``, `\`${scratch.sourceName}\``);
  const objects = Object.fromEntries(
    Object.entries(fp.objects).map(([k, lines]) => [k, (lines ?? []).map(swap)]),
  );
  return { ...fp, hash: `renamed:${fp.hash}`, objects };
}
