// `rewind maintenance on|off APP`: every request to the app answered 503 with Retry-After and a
// page, for a downtime people expect (a restore, a rollback that has to start processes cold).
import { readFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { MaintenanceBody } from '../api/requests.ts';
import type { MaintenanceAnswer } from '../api/responses.ts';
import { parseDuration } from '../shared/duration.ts';
import { RewindError } from '../shared/errors.ts';
import { ApiClient } from './api-client.ts';
import { json, print } from './follow-rollout.ts';
import { clock } from './format.ts';

/** A day, as the API allows. */
const MAX_RETRY_AFTER_S = 86_400;

/** `--retry-after 90s`, `2m`, `1h` or a number of seconds, to whole seconds from 1 s to a day. */
export function retryAfterSeconds(value: string): number {
  const ms = /^\d+$/.test(value.trim()) ? Number(value) * 1000 : parseDuration(value);
  const s = ms === undefined ? Number.NaN : ms / 1000;
  if (!Number.isInteger(s) || s < 1 || s > MAX_RETRY_AFTER_S)
    throw new InvalidArgumentError(
      `--retry-after takes whole seconds from 1s to 24h, such as 60s, 5m or 1h; got "${value}"`,
    );
  return s;
}

/** The page a user gave, checked here so that a file too large is named before anything is sent. */
async function readPage(file: string): Promise<string> {
  let page: string;
  try {
    page = await readFile(file, 'utf8');
  } catch (err) {
    throw new RewindError(
      'VALIDATION_FAILED',
      `--page: cannot read ${file} (${(err as NodeJS.ErrnoException).code}); give the path of an HTML file`,
    );
  }
  // The limit's one definition, with zod: loaded by this command only.
  const { pageProblem } = await import('../spec/maintenance.ts');
  const problem = pageProblem(page);
  if (problem) throw new RewindError('VALIDATION_FAILED', `--page ${file}: ${problem}`);
  return page;
}

function describe(r: MaintenanceAnswer): string {
  const at = r.inForceAt === null ? '' : ` (in force at ${clock(r.inForceAt)})`;
  const m = r.maintenance;
  if (m === null)
    return r.changed
      ? `maintenance mode of ${r.app} is off: it serves again${at}`
      : `maintenance mode of ${r.app} was off already`;
  const page = m.page === 'default' ? 'the default page' : 'your page';
  return `maintenance mode of ${r.app} is on: every request gets 503 with ${page}, Retry-After ${m.retryAfterSeconds}s${at}\nturn it off with: rewind maintenance off ${r.app}`;
}

export function registerMaintenanceCommands(program: Command): void {
  const maintenance = program
    .command('maintenance')
    .description(
      "Maintenance mode: the app's proxy answers every request 503 with Retry-After and a page (requests forcing a revision still reach it; health checks go to the instances and are not affected)",
    );
  const send = async (appName: string, body: MaintenanceBody, asJson: boolean) => {
    const r = await new ApiClient().post<MaintenanceAnswer>(
      `/apps/${encodeURIComponent(appName)}/maintenance`,
      body,
    );
    if (asJson) return json(r);
    print(describe(r));
  };

  maintenance
    .command('on <app>')
    .description(
      'Turn maintenance mode on; answers once every proxy worker serves the page. Again while on: a new page, Retry-After or reason',
    )
    .option(
      '--page <file>',
      "HTML page to answer with, at most 256 KiB, self-contained (default: rewind.yaml's maintenance.page, else a page naming the app)",
    )
    .addOption(
      new Option(
        '--retry-after <duration>',
        "the Retry-After header: 90s, 5m, 1h (default: rewind.yaml's maintenance.retryAfter, 60s)",
      ).argParser(retryAfterSeconds),
    )
    .option('--reason <text>', 'why; recorded in the events and the audit trail')
    .option('--json', 'print the result as JSON')
    .action(async (appName: string, opts) => {
      const body: MaintenanceBody = {
        on: true,
        ...(opts.page !== undefined && { page: await readPage(opts.page) }),
        ...(opts.retryAfter !== undefined && { retryAfterSeconds: opts.retryAfter }),
        ...(opts.reason !== undefined && { reason: opts.reason }),
      };
      await send(appName, body, Boolean(opts.json));
    });

  maintenance
    .command('off <app>')
    .description('Turn maintenance mode off: the app serves again; answers once every proxy worker does')
    .option('--reason <text>', 'why; recorded in the events and the audit trail')
    .option('--json', 'print the result as JSON')
    .action(async (appName: string, opts) => {
      await send(
        appName,
        { on: false, ...(opts.reason !== undefined && { reason: opts.reason }) },
        Boolean(opts.json),
      );
    });
}
