// `rewind db`: the app's database migrations. Everything goes through the server except
// `db lint --config FILE`, which reads the migrations locally so a CI job can lint a release
// before anything is deployed.
import { type Command, InvalidArgumentError, Option } from 'commander';
import type {
  RoundTripMigration,
  RoundTripProgress,
  RoundTripReport,
} from '../features/database/roundtrip.ts';
import type { MigrationLint } from '../features/database/types.ts';
import { ApiClient } from './api-client.ts';
import { EXIT } from './exit-codes.ts';
import { json, print } from './follow-rollout.ts';
import { table } from './format.ts';

const whole = (name: string, min: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new InvalidArgumentError(`${name} takes a whole number >= ${min}, got "${value}"`);
  return n;
};

interface PlanView {
  version: string;
  engine: string;
  database: string;
  folder: string;
  currentLevel: number;
  targetLevel: number;
  entries: {
    key: string;
    phase: string;
    state: string;
    when: string;
    findings: { code: string; severity: string }[];
  }[];
  unknown: string[];
}

interface StepView {
  ok: boolean;
  detail: string;
  levelBefore: number;
  levelAfter: number;
}

function printLint(lints: readonly MigrationLint[]): number {
  let errors = 0;
  for (const l of lints) {
    const declared = l.declaredPhase ? ` (declared ${l.declaredPhase})` : '';
    print(
      `${l.migration}: ${l.effectivePhase}${declared}${l.touchedTables.length ? `, touches ${l.touchedTables.join(', ')}` : ''}`,
    );
    for (const f of l.findings) {
      if (f.severity === 'error') errors++;
      print(`  ${f.severity === 'error' ? 'error  ' : 'warning'} ${f.code} ${f.rule} ${f.file}:${f.line}`);
      print(`          ${f.message}`);
      print(`          fix: ${f.fix}`);
    }
  }
  const warnings = lints.reduce((n, l) => n + l.findings.length, 0) - errors;
  print(`\n${lints.length} migration(s), ${errors} error(s), ${warnings} warning(s)`);
  return errors;
}

/** One migration's outcome, and under it what to fix: each difference, or the failed statement. */
function roundTripLines(m: RoundTripMigration): string[] {
  const ms = `up ${m.ms.up} ms, down ${m.ms.down} ms, redo ${m.ms.redo} ms`;
  const head = { passed: 'ok   ', failed: 'FAIL ', skipped: 'skip ', 'not run': '-    ' }[m.status];
  const lines = [`${head} ${m.key}${m.status === 'passed' || m.status === 'failed' ? ` (${ms})` : ''}`];
  if (m.note) lines.push(`        ${m.note}`);
  if (m.downDifferences.length) {
    lines.push('        the down did not restore the schema:');
    for (const d of m.downDifferences) lines.push(`          ${d.message}`);
  }
  if (m.redoDifferences.length) {
    lines.push('        up again (after the down) gave another schema than the first up:');
    for (const d of m.redoDifferences) lines.push(`          ${d.message}`);
  }
  const f = m.failure;
  if (f) {
    const stage = { up: 'the up', down: 'the down', redo: 'up again after the down' }[f.stage];
    const at = f.location && !f.message.includes(f.location) ? ` (${f.location})` : '';
    lines.push(`        ${stage} failed${at}: ${f.message}`);
    if (f.statement) lines.push(`          ${f.statement.replace(/\s+/g, ' ').slice(0, 200)}`);
  }
  return lines;
}

function roundTripSummary(r: RoundTripReport): string {
  const count = (s: RoundTripMigration['status']) => r.migrations.filter((m) => m.status === s).length;
  const parts = [`${count('passed')} passed`, `${count('failed')} failed`];
  if (count('skipped')) parts.push(`${count('skipped')} skipped`);
  if (count('not run')) parts.push(`${count('not run')} not run`);
  const cleanup = r.cleanup ? `\nwarning: ${r.cleanup}` : '';
  return `\n${r.migrations.length} pending migration(s) round-tripped from level ${r.levelBefore}: ${parts.join(', ')} (${(r.durationMs / 1000).toFixed(1)} s; ${r.engine} scratch ${r.scratch}, schema copied with ${r.copiedWith}, ${r.cleanup ? 'NOT dropped' : 'dropped'})${cleanup}`;
}

export function registerDbCommands(program: Command): void {
  const db = program
    .command('db')
    .description("The app's database: expand/contract migrations that roll out and back with its revisions");
  const path = (app: string, rest: string) => `/apps/${encodeURIComponent(app)}/db${rest}`;
  const versionQuery = (v?: string) => (v ? `?version=${encodeURIComponent(v)}` : '');

  const planCommand = (name: 'status' | 'plan', description: string) =>
    db
      .command(`${name} <app>`)
      .description(description)
      .option('--version <version>', "another version's migrations (default: the stable revision's)")
      .option('--json', 'print as JSON')
      .action(async (app: string, opts) => {
        const p = await new ApiClient().get<PlanView>(path(app, `/plan${versionQuery(opts.version)}`));
        if (opts.json) return json(p);
        print(
          `${p.engine} ${p.database}: level ${p.currentLevel}; ${p.version} brings level ${p.targetLevel} (${p.folder})`,
        );
        const rows = p.entries.filter((e) => name === 'status' || e.state !== 'applied');
        print(
          table(
            rows.map((e) => [e.key, e.phase, e.state, e.when, e.findings.map((f) => f.code).join(',') || '']),
            ['MIGRATION', 'PHASE', 'STATE', 'RUNS', 'LINT'],
          ),
        );
        if (p.unknown.length) print(`applied but not in this folder: ${p.unknown.join(', ')}`);
      });
  planCommand(
    'status',
    'Migration level, applied and pending migrations of the stable (or the named) version',
  );
  planCommand(
    'plan',
    'What a deploy of the version would run: expand before traffic, contract after the bake',
  );

  db.command('lint <app>')
    .description(
      'Classify each migration as expand or contract and flag unsafe operations (exit 1 on errors)',
    )
    .option('--version <version>', "the version's migrations (default: the stable revision's)")
    .option('--config <file>', 'lint locally from this rewind.yaml, without a server')
    .option('--json', 'print as JSON')
    .action(async (app: string, opts) => {
      let lints: MigrationLint[];
      if (opts.config) {
        const { lintLocally } = await import('./db-local.ts');
        lints = await lintLocally(app, opts);
      } else {
        lints = (
          await new ApiClient().get<{ migrations: MigrationLint[] }>(
            path(app, `/lint${versionQuery(opts.version)}`),
          )
        ).migrations;
      }
      const errors = lints.reduce((n, l) => n + l.findings.filter((f) => f.severity === 'error').length, 0);
      if (opts.json) json({ app, migrations: lints, errors });
      else printLint(lints);
      if (errors) process.exitCode = EXIT.ERROR;
    });

  db.command('roundtrip <app>')
    .description(
      "Prove each pending migration's down undoes its up: on a scratch copy of the app's schema, up, down, compare, up again (exit 1 on a failure)",
    )
    .option(
      '--version <version>',
      "the version's migrations (default: the stable revision's; with --config, the app's initialVersion)",
    )
    .option('--config <file>', 'run locally from this rewind.yaml, without a server (CI)')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
The scratch is never the app's database: PostgreSQL, a temporary database on the same server
filled by pg_dump --schema-only | psql (the user needs CREATEDB, and pg_dump of the server's
major or newer: $REWIND_PG_BIN, /usr/lib/postgresql/N/bin or PATH); MariaDB/MySQL, a temporary
database filled from SHOW CREATE; SQLite, a copy of the file (empty if there is none yet). Named rewind_rt_<app>_<random>,
dropped at the end, on failure and on Ctrl-C. Differences are named (index, column type, default,
not-null, position, constraint, view...); a failing statement is shown with its file:line.
More: docs/database.md`,
    )
    .action(async (app: string, opts) => {
      const tty = process.stderr.isTTY === true;
      const onProgress = (p: RoundTripProgress) => {
        if (tty) process.stderr.write(`\r\x1b[K[${p.index}/${p.total}] ${p.key}: ${p.stage}`);
        if (p.stage !== 'done' || !p.result) return;
        if (tty) process.stderr.write('\r\x1b[K');
        if (!opts.json) for (const line of roundTripLines(p.result)) print(line);
      };
      let report: RoundTripReport;
      if (opts.config) {
        const { roundTripLocally } = await import('./db-local.ts');
        report = await roundTripLocally(app, opts, onProgress);
      } else {
        report = await new ApiClient().post<RoundTripReport>(
          path(app, '/roundtrip'),
          opts.version ? { version: opts.version } : {},
          { timeoutMs: 30 * 60_000 },
        );
        if (!opts.json) for (const m of report.migrations) for (const line of roundTripLines(m)) print(line);
      }
      if (opts.json) json(report);
      else {
        if (!report.migrations.length)
          print(`no pending migration: ${app} is at level ${report.levelBefore}`);
        print(roundTripSummary(report));
      }
      if (!report.passed) process.exitCode = EXIT.ERROR;
    });

  const step = (r: StepView, opts: { json?: boolean }) => (opts.json ? json(r) : print(r.detail));

  db.command('migrate <app>')
    .description(
      "Run the stable revision's pending migrations now (--expand-only: only those that run before traffic)",
    )
    .option('--expand-only', 'stop at the first contract migration')
    .option('--json', 'print as JSON')
    .action(async (app: string, opts) => {
      step(
        await new ApiClient().post<StepView>(path(app, '/migrate'), {
          phase: opts.expandOnly ? 'expand' : 'all',
        }),
        opts,
      );
    });

  db.command('contract <app>')
    .description(
      "Run the stable revision's contract migrations now, each after a backup of the tables it touches",
    )
    .option('--json', 'print as JSON')
    .action(async (app: string, opts) => {
      step(await new ApiClient().post<StepView>(path(app, '/contract'), {}), opts);
    });

  db.command('rollback <app>')
    .description(
      "Undo migrations down to a level or to a revision's level, newest first, with the down files recorded when they ran",
    )
    .addOption(
      new Option('--to-level <n>', 'undo migrations above this level').argParser(whole('--to-level', 0)),
    )
    .addOption(
      new Option('--to-revision <n>', "undo down to this revision's level").argParser(
        whole('--to-revision', 1),
      ),
    )
    .option('--json', 'print as JSON')
    .action(async (app: string, opts) => {
      if ((opts.toLevel === undefined) === (opts.toRevision === undefined))
        throw new InvalidArgumentError('give --to-level N or --to-revision N');
      step(
        await new ApiClient().post<StepView>(path(app, '/rollback'), {
          toLevel: opts.toLevel,
          toRevision: opts.toRevision,
        }),
        opts,
      );
    });

  db.command('backup <app> [tables...]')
    .description(
      'Back up tables (default: all) into the backup place (PostgreSQL schema rewind_backup, MariaDB database rewind_backup, SQLite tables)',
    )
    .option('--json', 'print as JSON')
    .action(async (app: string, tables: string[], opts) => {
      const r = await new ApiClient().post<{ backupId: string; tables: string[] }>(path(app, '/backup'), {
        tables,
      });
      if (opts.json) return json(r);
      print(`backup ${r.backupId}: ${r.tables.join(', ')}`);
    });

  db.command('backups <app>')
    .description('Backups taken (before contract migrations, or by hand), newest first')
    .option('--json', 'print as JSON')
    .action(async (app: string, opts) => {
      const list = await new ApiClient().get<
        {
          backupId: string;
          revision: number | null;
          migrationKey: string;
          tables: string[];
          createdAt: string;
        }[]
      >(path(app, '/backups'));
      if (opts.json) return json(list);
      print(
        table(
          list.map((b) => [b.backupId, b.revision ?? '', b.migrationKey, b.tables.join(','), b.createdAt]),
          ['BACKUP', 'REVISION', 'MIGRATION', 'TABLES', 'CREATED'],
        ),
      );
    });

  db.command('restore <app>')
    .description(
      "Merge back what a revision's contract migrations removed (dropped columns' values by primary key, dropped tables, deleted rows); rows written since keep theirs",
    )
    .addOption(
      new Option('--to-revision <n>', 'the revision whose backups to restore')
        .argParser(whole('--to-revision', 1))
        .makeOptionMandatory(),
    )
    .option(
      '--overwrite',
      "destructive: make the tables the backup's rows exactly; shows the rows it would delete",
    )
    .option('--yes', 'with --overwrite: really delete them')
    .option('--json', 'print as JSON')
    .action(async (app: string, opts) => {
      const r = await new ApiClient().post<{
        dryRun: boolean;
        restored: {
          backupId: string;
          summary: string;
          tables: { table: string; deletedSample: unknown[] }[];
        }[];
      }>(path(app, '/restore'), {
        toRevision: opts.toRevision,
        ...(opts.overwrite ? { overwrite: true, confirm: opts.yes === true } : {}),
      });
      if (opts.json) return json(r);
      for (const b of r.restored) {
        print(
          `${r.dryRun ? 'would restore' : 'restored'} from ${b.backupId}: ${b.summary || 'nothing to put back'}`,
        );
        for (const t of b.tables)
          if (t.deletedSample.length)
            print(
              `  ${t.table}: ${r.dryRun ? 'would delete' : 'deleted'} ${t.deletedSample.map((k) => JSON.stringify(k)).join(' ')}`,
            );
      }
      if (r.dryRun) print('nothing was changed; run again with --overwrite --yes to delete these rows');
    });

  db.command('verify <app>')
    .description(
      'Schema fingerprint against the one recorded for the level, unchanged data, foreign keys without orphans (exit 1 on a failure)',
    )
    .addOption(
      new Option('--level <n>', "the level to compare against (default: the stable revision's)").argParser(
        whole('--level', 0),
      ),
    )
    .option('--json', 'print as JSON')
    .action(async (app: string, opts) => {
      const r = await new ApiClient().post<{
        passed: boolean;
        checks: { name: string; passed: boolean; detail: string }[];
      }>(path(app, '/verify'), opts.level === undefined ? {} : { level: opts.level });
      if (opts.json) json(r);
      else for (const c of r.checks) print(`${c.passed ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
      if (!r.passed) process.exitCode = EXIT.ERROR;
    });
}
