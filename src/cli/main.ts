// `rewind`: the command line. A thin client of the HTTP API, except `rewind server`, which runs it.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { DeployBody, RollbackBody } from '../api/requests.ts';
import type { AppStatus, LogLine, RevisionEntry, Rollout } from '../api/responses.ts';
import { RewindError } from '../shared/errors.ts';
import { ApiClient, cliSettings, DEFAULT_URL, UnreachableError } from './api-client.ts';
import { COMPLETION_SHELLS, type CompletionShell, completionScript } from './completion.ts';
import { registerConfigCommands } from './config-commands.ts';
import { registerDbCommands } from './db-commands.ts';
import { registerDrillCommands } from './drill-commands.ts';
import { EXIT } from './exit-codes.ts';
import { registerFlagCommands } from './flags-commands.ts';
import { followRollout, json, keyValue, print, rolloutLine } from './follow-rollout.ts';
import { ago, clock, left, table, watchFrame } from './format.ts';
import { registerMaintenanceCommands } from './maintenance-commands.ts';
import { registerSecurityCommands } from './security-commands.ts';
import { type AppStatusView, logsNote, renderStatus } from './status-view.ts';

const int = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`${name} takes a whole number, got "${value}"`);
  return n;
};
const program = new Command('rewind')
  .description(
    'Rollback-first delivery controller: ship a new version, watch it, put everything back when it misbehaves.',
  )
  .version('0.1.0')
  .enablePositionalOptions()
  .option(
    '--url <url>',
    `the server; wins over $REWIND_URL (default ${DEFAULT_URL}); HOST:PORT without a scheme means http://HOST:PORT`,
  )
  .option(
    '--data-dir <dir>',
    "the server's data dir, whose admin.token the CLI sends when $REWIND_TOKEN is unset (default: $REWIND_DATA_DIR, else .rewind)",
  )
  .addHelpText(
    'after',
    `\nThe CLI talks to the server at --url, else $REWIND_URL, else ${DEFAULT_URL}\n(HOST:PORT means http://HOST:PORT; write https:// for a server with server.tls),\nwith the token in $REWIND_TOKEN, else the admin token the server wrote into\n<data dir>/admin.token (see docs/security.md).\nExit codes: 0 ok, 1 error, 2 rolled back, 3 failed, 4 --wait timed out, 5 another rollout in progress.`,
  )
  .hook('preAction', (root) => {
    const o = root.opts<{ url?: string; dataDir?: string }>();
    if (o.url) cliSettings.url = o.url;
    if (o.dataDir) cliSettings.dataDir = o.dataDir;
  })
  .showHelpAfterError();

program
  .command('server')
  .description(
    'Run the Rewind server: the API, the controller and (in a separate agent process) the apps and their proxy',
  )
  .option('--config <file>', 'rewind.yaml to load', 'rewind.yaml')
  .option(
    '--data-dir <dir>',
    'state directory (SQLite store, agent socket, logs); one server per data dir',
    '.rewind',
  )
  .addOption(new Option('--port <n>', 'API port').default(7070).argParser(int('--port')))
  .option('--host <host>', 'API address', '127.0.0.1')
  .addOption(
    new Option(
      '--ofrep-port <n>',
      "OFREP's own port, served by a worker thread off the API's event loop (default: --port + 1)",
    ).argParser(int('--ofrep-port')),
  )
  .option('--keep-apps', 'on stop, leave the agent and the apps running (a later server adopts them)')
  .addOption(
    new Option(
      '--advertise-url <url>',
      'with several servers on one PostgreSQL store: the URL the others name while this one leads (default: http(s)://--host:--port)',
    ).argParser((value: string) => {
      let url: URL | undefined;
      try {
        url = new URL(value);
      } catch {}
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
        throw new InvalidArgumentError(
          `--advertise-url takes the http(s) URL other servers and the CLI reach this one at, e.g. http://10.0.0.5:7070; got "${value}"`,
        );
      return value.replace(/\/+$/, '');
    }),
  )
  .option(
    '--insecure',
    'allow a non-loopback --host (or server.flagSync.listen) without server.tls (behind a TLS-terminating proxy)',
  )
  .action(async (opts, cmd: Command) => {
    const { runServer } = await import('../server/main.ts');
    // `rewind --data-dir X server` means the same as `rewind server --data-dir X`.
    const dataDir =
      cmd.getOptionValueSource('dataDir') === 'default' && cliSettings.dataDir
        ? cliSettings.dataDir
        : opts.dataDir;
    await runServer({
      config: opts.config,
      dataDir,
      port: opts.port,
      host: opts.host,
      keepApps: Boolean(opts.keepApps),
      insecure: Boolean(opts.insecure),
      ...(opts.ofrepPort !== undefined && { ofrepPort: opts.ofrepPort }),
      ...(opts.advertiseUrl !== undefined && { advertiseUrl: opts.advertiseUrl }),
    });
  });

const timeoutOption = () =>
  new Option('--timeout <seconds>', 'give up waiting after this long (exit 4)')
    .default(600)
    .argParser(int('--timeout'));

program
  .command('deploy <app>')
  .description(
    "Create a revision with a new version and roll it out with the app's strategy (blue-green or canary)",
  )
  .requiredOption('--version <version>', 'version label; replaces ${version} in the run command')
  .option('--env <KEY=VALUE>', 'environment override for this revision (repeatable)', keyValue, {})
  .option('--reason <text>', 'why; recorded with the revision')
  .option(
    '--wait',
    'block until the rollout ends (after the bake); exit 0 when stable, 2 rolled back, 3 failed',
  )
  .option(
    '--watch',
    'like --wait, then also wait for the post-deploy watch to end; exit 2 if it rolled the revision back',
  )
  .addOption(timeoutOption())
  .option('--json', 'print the result as JSON')
  .action(async (appName: string, opts) => {
    const api = new ApiClient();
    const rollout = await api.post<Rollout>(`/apps/${encodeURIComponent(appName)}/deploy`, {
      version: opts.version,
      env: opts.env,
      reason: opts.reason,
    } satisfies DeployBody);
    await followRollout(api, rollout, opts);
  });

program
  .command('rollback <app>')
  .description('Put the previous (or the named) revision back; instant while it is still warm')
  .addOption(new Option('--to-revision <n>', 'revision to restore').argParser(int('--to-revision')))
  .option('--reason <text>', 'why; recorded in the rollout')
  .option('--no-wait', 'return as soon as the rollback started')
  .addOption(timeoutOption())
  .option('--json', 'print the result as JSON')
  .action(async (appName: string, opts) => {
    const api = new ApiClient();
    const rollout = await api.post<Rollout>(`/apps/${encodeURIComponent(appName)}/rollback`, {
      toRevision: opts.toRevision,
      reason: opts.reason,
    } satisfies RollbackBody);
    // A rollback during a deploy aborts it: that rollout ending RolledBack is this command's success.
    await followRollout(api, rollout, { ...opts, rolledBackIsSuccess: rollout.kind === 'deploy' });
  });

program
  .command('promote <app>')
  .description('End the current pause of a rollout and go on; --full skips to 100% and the bake')
  .option('--full', 'skip every remaining step')
  .option('--json', 'print the rollout as JSON')
  .action(async (appName: string, opts) => {
    const r = await new ApiClient().post<Rollout>(`/apps/${encodeURIComponent(appName)}/promote`, {
      full: Boolean(opts.full),
    });
    if (opts.json) return json(r);
    print(
      `${r.kind} to revision ${r.toRevision}: ${r.phase}, ${(r.state as { weight?: number }).weight ?? 0}% of traffic on it`,
    );
  });

for (const [verb, description] of [
  ['abort', 'Abort the rollout: all traffic back on the stable revision, the new one stopped'],
  ['pause', 'Pause the rollout where it is (analysis goes on)'],
  ['resume', 'Resume a paused rollout'],
] as const) {
  const cmd = program.command(`${verb} <app>`).description(description);
  if (verb !== 'resume') cmd.option('--reason <text>', 'why; recorded in the rollout and its incident');
  cmd.option('--json', 'print the rollout as JSON').action(async (appName: string, opts) => {
    const r = await new ApiClient().post<Rollout>(
      `/apps/${encodeURIComponent(appName)}/${verb}`,
      opts.reason ? { reason: opts.reason } : {},
    );
    if (opts.json) return json(r);
    print(rolloutLine(r));
  });
}

registerConfigCommands(program, timeoutOption);
registerFlagCommands(program);
registerDbCommands(program);
registerDrillCommands(program);
registerSecurityCommands(program);
registerMaintenanceCommands(program);

const incidentsCmd = program
  .command('incidents')
  .description('Incidents, newest first; every rollback opens one (a rollback drill excepted)')
  .option('--app <app>', 'only this app')
  .option('--json', 'print as JSON')
  .action(async (opts) => {
    const q = opts.app ? `?app=${encodeURIComponent(opts.app)}` : '';
    const list = await new ApiClient().get<IncidentView[]>(`/incidents${q}`);
    if (opts.json) return json(list);
    print(
      table(
        list.map((i) => [i.id, i.app, i.severity, incidentState(i, Date.now()), ago(i.openedAt), i.title]),
        ['ID', 'APP', 'SEV', 'STATUS', 'OPENED', 'TITLE'],
      ),
    );
  });

incidentsCmd
  .command('show <id>')
  .description(
    'One incident (`latest`: the newest): the report (Markdown, following the post-mortem template) or its JSON',
  )
  .addOption(new Option('--format <format>', 'md or json').choices(['md', 'json']).default('md'))
  .action(async (given: string, opts) => {
    const api = new ApiClient();
    const id = await api.idOrLatest(
      given,
      '/incidents',
      new RewindError('INCIDENT_NOT_FOUND', 'no incidents yet: every rollback and kill switch opens one'),
    );
    if (opts.format === 'json') return json(await api.get(`/incidents/${encodeURIComponent(id)}`));
    print(await api.text(`/incidents/${encodeURIComponent(id)}?format=md`));
  });

interface IncidentView {
  id: string;
  app: string;
  severity: string;
  status: string;
  openedAt: number;
  title: string;
  watch?: { until: number; result: string | null };
}

/** The status, with the time left while the restored revision is watched ("Verifying (12m left)"). */
function incidentState(i: IncidentView, now: number): string {
  if (i.status !== 'Verifying' || !i.watch) return i.status;
  return `Verifying (${left(i.watch.until, now)})`;
}

program
  .command('status <app>')
  .description(
    'Stable revision, rollout in progress, watches, traffic, and the instances that run or fail, with their health',
  )
  .option(
    '--all',
    'also list the stopped instances of retired revisions (--json always lists every instance)',
  )
  .option('--json', 'print as JSON')
  .option('--watch', 'refresh every second until interrupted')
  .action(async (appName: string, opts) => {
    const api = new ApiClient();
    for (;;) {
      const s = await api.get<AppStatusView>(`/apps/${encodeURIComponent(appName)}`);
      if (opts.json) json(s);
      else {
        const text = renderStatus(s, { all: Boolean(opts.all) });
        print(opts.watch ? watchFrame(text, { tty: process.stdout.isTTY === true, at: Date.now() }) : text);
      }
      if (!opts.watch) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
  });

program
  .command('history <app>')
  .description(
    'Revisions, newest first, with what became of each: stable, rolling out, superseded, rolled back, aborted, failed',
  )
  .option('--json', 'print as JSON')
  .action(async (appName: string, opts) => {
    const revisions = await new ApiClient().get<RevisionEntry[]>(
      `/apps/${encodeURIComponent(appName)}/revisions`,
    );
    if (opts.json) return json(revisions);
    print(
      table(
        revisions.map((r) => [
          r.number,
          r.version,
          r.outcome,
          r.copiedFrom ? `copy of ${r.copiedFrom}` : '',
          ago(r.createdAt),
          (r.spec as { author?: string | null }).author ?? 'rewind',
          r.reason ?? '',
        ]),
        ['REVISION', 'VERSION', 'OUTCOME', 'SOURCE', 'CREATED', 'BY', 'REASON'],
      ),
    );
  });

program
  .command('apps')
  .description('Apps under control')
  .option('--json', 'print as JSON')
  .action(async (opts) => {
    const apps = await new ApiClient().get<AppStatusView[]>('/apps');
    if (opts.json) return json(apps);
    print(
      table(
        apps.map((a) => [
          a.name,
          a.listen,
          a.stableRevision,
          a.stableVersion,
          a.activeRollout ? `${a.activeRollout.kind} ${a.activeRollout.phase}` : 'idle',
        ]),
        ['APP', 'LISTEN', 'STABLE', 'VERSION', 'ROLLOUT'],
      ),
    );
  });

program
  .command('logs <app>')
  .description(
    'Last lines printed by the instances of the revision that serves (the stable one), or of the one named; it says on stderr whose lines they are',
  )
  .addOption(new Option('--revision <n>', 'this revision instead').argParser(int('--revision')))
  .addOption(new Option('--all', "every revision's lines, interleaved").conflicts('revision'))
  .addOption(new Option('--tail <n>', 'how many lines').default(100).argParser(int('--tail')))
  .option('--json', 'print as JSON')
  .action(async (appName: string, opts) => {
    const api = new ApiClient();
    const app = encodeURIComponent(appName);
    const q = new URLSearchParams({ tail: String(opts.tail) });
    let revision: number | undefined = opts.revision;
    if (revision === undefined && !opts.all) {
      const s = await api.get<AppStatus>(`/apps/${app}`);
      revision = s.stableRevision ?? undefined;
      process.stderr.write(`${logsNote(s)}\n`);
    }
    if (revision !== undefined) q.set('revision', String(revision));
    const lines = await api.get<LogLine[]>(`/apps/${app}/logs?${q}`);
    if (opts.json) return json(lines);
    for (const l of lines)
      print(`${clock(l.at)} ${l.instance} ${l.stream === 'stderr' ? '!' : ' '} ${l.line}`);
  });

program
  .command('dashboard')
  .description(
    "Prints a sign-in link for the dashboard, with your token's rights (it works once, for 15 minutes), and opens it in the browser on a desktop",
  )
  .option('--no-open', 'print the link only')
  .option('--json', 'print as JSON')
  .action(async (opts) => {
    const api = new ApiClient();
    const link = await api.post<{ path: string; expiresAt: number }>('/session/links');
    const url = `${api.base}${link.path}`;
    if (opts.json) return json({ url, expiresAt: link.expiresAt });
    print(url);
    process.stderr.write(
      `signs in once, until ${new Date(link.expiresAt).toLocaleTimeString()}; the session then lasts 12 hours\n`,
    );
    const { openInBrowser } = await import('./open-browser.ts');
    if (opts.open && process.stdout.isTTY) openInBrowser(url);
  });

program
  .command('init')
  .description(
    'Writes a commented rewind.yaml for an app: starts --command with a port in $PORT, checks that it listens, and takes the first of /healthz, /health, /readyz, /ready, /status, / that answers 2xx as its health check',
  )
  .requiredOption('--command <cmd>', 'the shell command that starts one instance; it must listen on $PORT')
  .option('--name <app>', "the app's name (default: this directory's name)")
  .option('--listen <host:port>', 'where users reach the app through Rewind', '127.0.0.1:8080')
  .option('--health <path>', 'the health path, checked instead of looked for')
  .option('--file <path>', 'where to write', 'rewind.yaml')
  .option('--force', 'replace the file if it exists')
  .addOption(
    new Option('--timeout <s>', 'how long the command may take to listen')
      .default(15)
      .argParser(int('--timeout')),
  )
  .option('--json', 'print as JSON')
  .action(async (opts) => {
    const { runInit } = await import('./init-command.ts');
    const r = await runInit({ ...opts, force: Boolean(opts.force), timeoutMs: opts.timeout * 1000 });
    if (opts.json) return json(r);
    print(`wrote ${r.file}: app ${r.name}, health check GET ${r.health}`);
    print(`next: rewind server --config ${opts.file}`);
  });

program
  .command('completion <shell>')
  .description(
    'Prints a completion script for bash, zsh or fish, written from the commands this CLI has. Put it in force with: source <(rewind completion bash), or rewind completion fish | source',
  )
  .action((shell: string) => {
    if (!(COMPLETION_SHELLS as readonly string[]).includes(shell))
      throw new InvalidArgumentError(
        `completion: no script for the shell "${shell}"; use one of ${COMPLETION_SHELLS.join(', ')}`,
      );
    process.stdout.write(completionScript(program, shell as CompletionShell));
  });

try {
  // An unknown command fails whatever follows it. Otherwise commander acts on the program's own
  // options after it: `rewind deplyo shop --version v2` printed the version and exited 0.
  const word = process.argv[2];
  const known = (name: string) =>
    name === 'help' || program.commands.some((c) => c.name() === name || c.aliases().includes(name));
  if (word !== undefined && !word.startsWith('-') && !known(word))
    await program.parseAsync(process.argv.slice(0, 3));
  else await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof RewindError) {
    process.stderr.write(`error: ${err.message}\n`);
    process.exitCode =
      err.code === 'ROLLOUT_IN_PROGRESS' || err.code === 'DRILL_IN_PROGRESS' ? EXIT.CONFLICT : EXIT.ERROR;
  } else if (
    err instanceof UnreachableError ||
    err instanceof CommanderError ||
    (err as Error).name === 'MigrationFileError' ||
    (err as Error).name === 'ConfigError'
  ) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = EXIT.ERROR;
  } else {
    process.stderr.write(`error: ${(err as Error).stack ?? err}\n`);
    process.exitCode = EXIT.ERROR;
  }
}
