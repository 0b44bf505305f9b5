// `rewind drill APP` and `rewind drills`: rehearse the way back on a running app and read the
// reports. The drill runs in the server; the command follows it line by line and exits 0 when it
// passed, 1 when it failed (4 when --timeout gave up first: the drill goes on).
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { DrillBody } from '../api/requests.ts';
import type { Drill, DrillSummary } from '../api/responses.ts';
import type { DrillReport } from '../features/drills/drill-report.ts';
import { RewindError } from '../shared/errors.ts';
import { ApiClient } from './api-client.ts';
import { EXIT } from './exit-codes.ts';
import { json, print } from './follow-rollout.ts';
import { ago, clock, table } from './format.ts';

const seconds = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new InvalidArgumentError(`--timeout takes a whole number of seconds, got "${value}"`);
  return n;
};
const ms = (n: number | null) => (n === null ? '-' : `${Math.round(n)}ms`);

export function registerDrillCommands(program: Command): void {
  program
    .command('drill <app>')
    .description(
      "Rehearse the way back: deploy a version with the app's strategy, roll it back on purpose once the deploy completed (migrations and all), verify the restored revision, switch each kill-switch flag off and on; a report with the runbook's checklist, no incident. Exit 0 passed, 1 failed",
    )
    .requiredOption(
      '--version <version>',
      'version to deploy and roll back: the release about to ship, or "stable" for the stable version onto itself',
    )
    .addOption(
      new Option('--timeout <seconds>', 'stop following after this long (exit 4; the drill goes on)')
        .default(1800)
        .argParser(seconds),
    )
    .option('--json', 'print the finished drill (its report) as JSON')
    .action(async (appName: string, opts) => {
      const api = new ApiClient();
      let drill = await api.post<Drill>(`/apps/${encodeURIComponent(appName)}/drills`, {
        version: opts.version,
      } satisfies DrillBody);
      if (!opts.json) print(`drill ${drill.id}: ${appName}, version ${drill.version}`);
      const deadline = Date.now() + opts.timeout * 1000;
      let shown = 0;
      for (;;) {
        drill = await api.get<Drill>(`/drills/${encodeURIComponent(drill.id)}`);
        const progress = (drill.report as DrillReport).progress;
        if (!opts.json) for (const p of progress.slice(shown)) print(`${clock(p.at)}  ${p.message}`);
        shown = progress.length;
        if (drill.status !== 'Running') break;
        if (Date.now() > deadline) {
          if (opts.json) json({ ...drill, timedOut: true });
          else
            print(`still running after ${opts.timeout}s; the drill goes on: rewind drills show ${drill.id}`);
          process.exitCode = EXIT.TIMEOUT;
          return;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      if (opts.json) json(drill);
      else {
        // The checklist's judgments live with the report; loaded here, not when the CLI starts.
        const { drillChecklist } = await import('../features/drills/drill-report.ts');
        print('');
        print(
          table(
            drillChecklist(drill.report as DrillReport).map((l) => [
              l.test,
              l.result.toUpperCase(),
              l.detail,
            ]),
            ['CHECK', 'RESULT', 'MEASURED'],
          ),
        );
        print(`\n${drill.status}: the full report: rewind drills show ${drill.id}`);
      }
      process.exitCode = drill.status === 'Passed' ? EXIT.OK : EXIT.ERROR;
    });

  const drills = program
    .command('drills')
    .description('Rollback drills, newest first: status and rollback times')
    .option('--app <app>', 'only this app')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      const q = opts.app ? `?app=${encodeURIComponent(opts.app)}` : '';
      const list = await new ApiClient().get<DrillSummary[]>(`/drills${q}`);
      if (opts.json) return json(list);
      print(
        table(
          list.map((d) => [
            d.id,
            d.app,
            d.version,
            d.status,
            ago(d.startedAt),
            ms(d.msToTrafficRestored),
            ms(d.msToVerified),
            d.failures[0] ?? '',
          ]),
          ['ID', 'APP', 'VERSION', 'STATUS', 'STARTED', 'TRAFFIC BACK', 'VERIFIED', 'FAILURE'],
        ),
      );
    });

  drills
    .command('show <id>')
    .description(
      "One drill (`latest`: the newest): its report with the runbook's checklist (Markdown), or its JSON",
    )
    .addOption(new Option('--format <format>', 'md or json').choices(['md', 'json']).default('md'))
    .option('--json', 'the same as --format json')
    .action(async (given: string, opts) => {
      const api = new ApiClient();
      const id = await api.idOrLatest(
        given,
        '/drills',
        new RewindError('DRILL_NOT_FOUND', 'no drills yet: run one with rewind drill APP --version V'),
      );
      if (opts.json || opts.format === 'json')
        return json(await api.get(`/drills/${encodeURIComponent(id)}`));
      print(await api.text(`/drills/${encodeURIComponent(id)}?format=md`));
    });
}
