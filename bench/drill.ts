// Drill benchmark: how long a rollback drill of the shop takes, and where the time goes. Each
// round runs `POST /apps/shop/drills {version: v2}` on a real server (SQLite migrations: one
// expand and one contract; a kill-switch flag), follows it to its end, and reads the report's
// phases: deploy (command to v2 stable: expand, start, health, checks, switch, bake, contract),
// rollback (command to traffic restored: the contract undone, the switch), verify (traffic
// restored to the verdict: the expand undone, health, checks, a 3 s error-rate window, the
// schema fingerprint and row checksums), partial (the flag off and on again, each checked).
// Under light keep-alive load on the shop, counting failed requests.
// Peer: the rollback time estimates of the runbook (seed 004: "Application + Database", 10-30
// min to roll back and 15-30 min to verify, by hand).
//
//   node bench/drill.ts [--rounds 3] [--bake 1] [--json]
import { join } from 'node:path';
import type { DrillReport } from '../src/features/drills/drill-report.ts';
import { drillShopConfig, writeDrillReleases } from '../test/support/drill-fixtures.ts';
import { startRewind, waitFor } from '../test/support/rewind-harness.ts';
import {
  ApiClient,
  commandLine,
  intFlag,
  LoadRecorder,
  machine,
  machineLine,
  round,
  sleep,
  summarize,
  table,
} from './lib/rewind-cycle.ts';

const args = process.argv.slice(2);
const rounds = intFlag(args, 'rounds', 3);
const bakeS = intFlag(args, 'bake', 1);
const json = args.includes('--json');
const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);
const PHASES = ['deploy', 'rollback', 'verify', 'partial'] as const;

interface DrillView {
  id: string;
  status: string;
  report: DrillReport;
}

async function main(): Promise<number> {
  const h = await startRewind({
    config: (port) => drillShopConfig(port, `${bakeS}s`),
    setup: writeDrillReleases,
  });
  const api = new ApiClient(h.apiUrl, h.token);
  const load = new LoadRecorder(`${h.appUrl}/products`, 2);
  try {
    await waitFor('v1 serving', async () => (await fetch(h.appUrl).catch(() => null))?.ok, 60_000);
    const flags = await h.cli('flags', 'set', 'shop', '--file', join(h.dir, 'flags.json'));
    if (flags.code !== 0) throw new Error(`flags set: ${flags.stderr}`);
    const atStart = machine();
    log(
      `rewind up: ${h.apiUrl}; shop on SQLite, bake ${bakeS}s; ${rounds} drill(s) of v2 under 2 keep-alive connections`,
    );
    load.start();
    const drills: DrillView[] = [];
    for (let i = 1; i <= rounds; i++) {
      const started = await api.post<DrillView>('/api/v1/apps/shop/drills', { version: 'v2' });
      let d = started;
      while (d.status === 'Running') {
        await sleep(200);
        d = await api.get<DrillView>(`/api/v1/drills/${started.id}`);
      }
      if (d.status !== 'Passed')
        throw new Error(`drill ${d.id} ${d.status}: ${d.report.failures.join('; ')}`);
      drills.push(d);
      const total = (d.report.finishedAt ?? 0) - d.report.startedAt;
      log(
        `round ${i}: ${d.id} passed in ${round(total / 1000, 2)} s; traffic back ${round(d.report.fullRollback!.msToTrafficRestored!)} ms, verified ${round(d.report.fullRollback!.msToVerified!)} ms after the rollback command`,
      );
    }
    await load.stop();
    const totals = summarize(drills.map((d) => (d.report.finishedAt ?? 0) - d.report.startedAt));
    const phase = (name: (typeof PHASES)[number]) =>
      summarize(drills.map((d) => d.report.phases.find((p) => p.name === name)?.ms ?? 0));
    const phaseSum = PHASES.reduce((sum, name) => sum + phase(name).median, 0);
    const traffic = summarize(drills.map((d) => d.report.fullRollback!.msToTrafficRestored!));
    const verified = summarize(drills.map((d) => d.report.fullRollback!.msToVerified!));
    log('');
    log(
      table(
        ['phase', 'median ms', 'max ms', 'share of the drill'],
        [
          ...PHASES.map((name) => {
            const s = phase(name);
            return [name, round(s.median), round(s.max), `${round((s.median / phaseSum) * 100)}%`];
          }),
          ['whole drill (start to report)', round(totals.median), round(totals.max), ''],
        ],
      ),
    );
    log('');
    log(
      table(
        ['the way back (app + database)', 'Rewind drill, median', 'max', 'runbook by hand (seed 004)'],
        [
          [
            'roll back (to traffic restored)',
            `${round(traffic.median)} ms`,
            `${round(traffic.max)} ms`,
            '10-30 min',
          ],
          [
            'verify (from the rollback command)',
            `${round(verified.median)} ms`,
            `${round(verified.max)} ms`,
            '15-30 min',
          ],
        ],
      ),
    );
    log(`requests during the drills: ${load.requests} sent, ${load.failed} failed`);
    log(
      machineLine({ cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: machine().loadavg }),
    );
    log(`command: ${commandLine()}`);
    if (json)
      process.stdout.write(
        `${JSON.stringify({ drills: drills.map((d) => ({ id: d.id, phases: d.report.phases })), total: totals })}\n`,
      );
    return load.failed === 0 ? 0 : 1;
  } finally {
    await load.stop().catch(() => {});
    await h.close();
  }
}

process.exit(await main());
