// Safe by default: a release that takes all traffic at once (the default blue-green switch) under
// the default configuration (no analysis section: the runbook's rules, severity by size and the
// before/after judgment), side by side with a Flagger-style and an Argo-style check on the very
// same simulated traffic (bench/lib/canary-sim.ts, bench/lib/baseline-checks.ts). Exposure is the
// time from the release's first request to the decision (the switch back takes milliseconds after
// it: bench/switch.ts); failed is the requests the bad release failed in that time. Then the false
// rollbacks of the default configuration over --healthy healthy releases watched for --horizon s.
//
//   node bench/safe-defaults.ts [--rps 200] [--seeds 10] [--healthy 100] [--horizon 900] [--json]
import { argoStyle, type CheckOutcome, flaggerStyle } from './lib/baseline-checks.ts';
import { type Behaviour, canaryServed, replay, STABLE } from './lib/canary-sim.ts';
import { commandLine, intFlag, machine, machineLine, round, table } from './lib/rewind-cycle.ts';

const args = process.argv.slice(2);
const rps = intFlag(args, 'rps', 200);
const seeds = intFlag(args, 'seeds', 10);
const healthyRuns = intFlag(args, 'healthy', 100, true);
const horizonS = intFlag(args, 'horizon', 900);
const json = args.includes('--json');
const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);

const SCENARIOS: { what: string; release: Behaviour }[] = [
  { what: 'errors 50%', release: { ...STABLE, errorRate: 0.5 } },
  { what: 'errors 20%', release: { ...STABLE, errorRate: 0.2 } },
  { what: 'errors 8%', release: { ...STABLE, errorRate: 0.08 } },
  { what: 'errors 5%', release: { ...STABLE, errorRate: 0.05 } },
  { what: 'latency x3', release: { ...STABLE, latencyMedianMs: STABLE.latencyMedianMs * 3 } },
];

interface Run {
  readonly decidedAfterMs: number | null;
  readonly failed: number;
  readonly trigger?: string | null;
}

function cell(runs: readonly Run[]): [string, string, string] {
  const times = runs
    .map((r) => r.decidedAfterMs)
    .filter((t): t is number => t !== null)
    .sort((a, b) => a - b);
  const sec = (ms: number) => String(round(ms / 1000, ms < 10_000 ? 1 : 0));
  const verdict = times.length === 0 ? 'kept' : `rolled back ${times.length}/${runs.length}`;
  const time =
    times.length === 0
      ? '-'
      : `${sec(times[Math.floor((times.length - 1) / 2)]!)} (${sec(times[0]!)}-${sec(times.at(-1)!)})`;
  const failed = runs.map((r) => r.failed).sort((a, b) => a - b);
  return [verdict, time, String(failed[Math.floor((failed.length - 1) / 2)])];
}

async function main(): Promise<void> {
  const atStart = machine();
  log(`machine: ${atStart.cpus} CPUs, load average ${atStart.loadavg.join(' ')} at start`);
  const horizonMs = horizonS * 1000;
  const rows: { what: string; rewind: Run[]; flagger: Run[]; argo: Run[] }[] = [];
  for (const sc of SCENARIOS) {
    const rewind: Run[] = [];
    const flagger: Run[] = [];
    const argo: Run[] = [];
    for (let seed = 1; seed <= seeds; seed++) {
      const r = await replay(
        { rps, weight: 100, stable: STABLE, canary: sc.release },
        { seed: seed * 104_729 + sc.what.length, horizonMs },
      );
      rewind.push({
        decidedAfterMs: r.action === 'rollback' ? r.decidedAfterMs : null,
        failed: r.canaryFailed,
        trigger: r.trigger,
      });
      const asRun = (o: CheckOutcome): Run => ({
        decidedAfterMs: o.decidedAfterMs,
        failed: canaryServed(r.traffic, r.traffic.canaryStart + (o.decidedAfterMs ?? horizonMs)).failed,
      });
      flagger.push(asRun(flaggerStyle(r.traffic, horizonMs)));
      argo.push(asRun(argoStyle(r.traffic, horizonMs)));
    }
    rows.push({ what: sc.what, rewind, flagger, argo });
    log(
      `  ${sc.what}: done (Rewind decided by ${[...new Set(rewind.map((x) => x.trigger ?? 'none'))].join(', ')})`,
    );
  }

  let falseRollbacks = 0;
  const falseTriggers: string[] = [];
  for (let seed = 1; seed <= healthyRuns; seed++) {
    // Healthy, but a fresh process: 2.5x slower for its first 8 s (as measured on a busy 2-core box).
    const fresh = { ...STABLE, coldStart: { seconds: 8, latencyFactor: 2.5 } };
    const r = await replay(
      { rps, weight: 100, stable: STABLE, canary: fresh },
      { seed: seed * 7_877 + 3, horizonMs },
    );
    if (r.action === 'rollback') {
      falseRollbacks++;
      falseTriggers.push(`${r.trigger}: ${r.reason}`);
    }
  }
  const atEnd = machine();

  log('');
  log(`command: ${commandLine()}`);
  log(machineLine({ cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: atEnd.loadavg }));
  log(
    `traffic: ${rps} req/s (Poisson), all of it on the release from the switch; the previous revision failed 0.5% before it, latency log-normal median ${STABLE.latencyMedianMs} ms; ${seeds} recordings per release, ${horizonS} s each`,
  );
  log(
    'Rewind: default configuration (runbook rules, severity by size, before/after judgment), evaluated every 1 s',
  );
  log('Flagger-style: interval 1m, threshold 5, success rate >= 99% and p99 <= 500 ms over 1m');
  log('Argo-style: AnalysisRun interval 1m, failureLimit 3, successCondition error rate < 5% over 1m');
  log('');
  log(
    table(
      [
        'release',
        'Rewind',
        'exposure (s)',
        'failed',
        'Flagger-style',
        'exposure (s)',
        'failed',
        'Argo-style',
        'exposure (s)',
        'failed',
      ],
      rows.map((r) => [r.what, ...cell(r.rewind), ...cell(r.flagger), ...cell(r.argo)]),
    ),
  );
  log('');
  log(
    `exposure: median (min-max) from the release's first request to the rollback decision; failed: median requests the release failed until then (or the ${horizonS} s horizon when kept)`,
  );
  log(
    `false rollbacks of the default configuration: ${falseRollbacks} of ${healthyRuns} healthy releases (${horizonS} s each)`,
  );
  for (const t of falseTriggers.slice(0, 5)) log(`  ${t}`);
  if (json)
    process.stdout.write(
      `${JSON.stringify(
        {
          benchmark: 'safe-defaults',
          command: commandLine(),
          machine: { cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: atEnd.loadavg },
          rps,
          seeds,
          horizonSeconds: horizonS,
          rows,
          falseRollbacks,
          healthyRuns,
        },
        null,
        2,
      )}\n`,
    );
  if (falseRollbacks > 0) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
