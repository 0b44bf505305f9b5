// The `rewind db` commands that run without a server (`--config FILE`): they read rewind.yaml and
// the migrations here, and roundtrip opens the database itself. A file of its own because it
// pulls in the database drivers, the SQL parser and the config schema: db-commands.ts imports it
// on demand, so every other command starts without loading them.
import { InvalidArgumentError } from 'commander';
import { dropLiveScratches } from '../features/database/engines/scratch.ts';
import { lintMigrations } from '../features/database/lint.ts';
import { loadMigrations } from '../features/database/migration-files.ts';
import { type RoundTripProgress, type RoundTripReport, roundTrip } from '../features/database/roundtrip.ts';
import type { MigrationLint } from '../features/database/types.ts';
import { RewindError } from '../shared/errors.ts';
import { databaseUrl, migrationsDir, resolveSqliteUrl } from '../spec/database-spec.ts';

interface LocalOptions {
  config: string;
  version?: string;
}

/** An app's database as rewind.yaml declares it, for the commands that run without a server. */
async function localDatabase(app: string, opts: LocalOptions) {
  const { loadConfigFile } = await import('../features/apps/load-config.ts');
  const loaded = loadConfigFile(opts.config);
  const spec = loaded.config.apps.find((a) => a.name === app);
  if (!spec) throw new RewindError('APP_NOT_FOUND', `no app named "${app}" in ${opts.config}`, { app });
  if (!spec.database)
    throw new RewindError('VALIDATION_FAILED', `app ${app} in ${opts.config} declares no database`, {
      field: 'database',
    });
  if (!opts.version && spec.database.migrations.includes('${version}'))
    throw new InvalidArgumentError('the migrations folder depends on ${version}: pass --version');
  const version = opts.version ?? spec.initialVersion;
  return {
    spec: spec.database,
    baseDir: loaded.baseDir,
    version,
    dir: migrationsDir(spec.database, loaded.baseDir, version),
  };
}

/** `db lint --config`: the version's migrations linted from the files. */
export async function lintLocally(app: string, opts: LocalOptions): Promise<MigrationLint[]> {
  const local = await localDatabase(app, opts);
  return lintMigrations(await loadMigrations(local.dir, local.spec.engine), local.spec.engine);
}

/** `db roundtrip --config`: the pending migrations proven on a scratch copy of the app's schema. */
export async function roundTripLocally(
  app: string,
  opts: LocalOptions,
  onProgress: (p: RoundTripProgress) => void,
): Promise<RoundTripReport> {
  const local = await localDatabase(app, opts);
  let url: string;
  try {
    url = databaseUrl(local.spec);
  } catch (err) {
    throw new RewindError('VALIDATION_FAILED', (err as Error).message, { field: 'database.urlEnv' });
  }
  if (local.spec.engine === 'sqlite') url = resolveSqliteUrl(url, local.baseDir);
  const migrations = await loadMigrations(local.dir, local.spec.engine);
  // Ctrl-C or a CI timeout: the scratch database is dropped before the process ends.
  const stop = (signal: NodeJS.Signals) => {
    if (process.stderr.isTTY === true) process.stderr.write('\r\x1b[K');
    process.stderr.write(`${signal}: dropping the scratch database\n`);
    void dropLiveScratches()
      .then((failed) => {
        for (const f of failed) process.stderr.write(`warning: ${f}\n`);
      })
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    return await roundTrip({ app, engine: local.spec.engine, url, migrations, onProgress });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
