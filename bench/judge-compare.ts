// Rewind's analysis vs interval-based checks in the style of Flagger and Argo Rollouts, on the very
// same simulated per-second traffic: a canary at --weight% of --rps requests/s beside a stable
// revision failing 0.5% of its requests, for a healthy canary and several bad ones. Rewind's side is
// the controller's own RolloutWatch evaluated every second (bench/lib/canary-sim.ts); the others are
// models of those tools' documented semantics (bench/lib/baseline-checks.ts). Each scenario is
// replayed with --seeds different traffic recordings; times are from the canary's first traffic.
//
//   node bench/judge-compare.ts [--rps 500] [--weight 10] [--seeds 20] [--horizon 600] [--json]
import { argoStyle, type CheckOutcome, flaggerStyle } from './lib/baseline-checks.ts';
import { type Behaviour, canaryServed, type ReplayResult, replay, STABLE } from './lib/canary-sim.ts';
import { commandLine, intFlag, machine, machineLine, round, table } from './lib/rewind-cycle.ts';

const args = process.argv.slice(2);
const rps = intFlag(args, 'rps', 500);
const weight = intFlag(args, 'weight', 10);
const seeds = intFlag(args, 'seeds', 20);
const horizonS = intFlag(args, 'horizon', 600);
const json = args.includes('--json');
const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);

const SCENARIOS: { name: string; what: string; canary: Behaviour }[] = [
  { name: 'healthy', what: 'healthy (0.5% errors)', canary: STABLE },
  { name: 'err2', what: 'errors 2%', canary: { ...STABLE, errorRate: 0.02 } },
  { name: 'err5', what: 'errors 5%', canary: { ...STABLE, errorRate: 0.05 } },
  { name: 'err20', what: 'errors 20%', canary: { ...STABLE, errorRate: 0.2 } },
  { name: 'err100', what: 'errors 100%', canary: { ...STABLE, errorRate: 1 } },
  { name: 'latency', what: 'latency x3', canary: { ...STABLE, latencyMedianMs: STABLE.latencyMedianMs * 3 } },
];

interface MethodRun {
  readonly decidedAfterMs: number | null;
  readonly verdict: string;
  readonly canaryFailed: number;
}

function cell(runs: readonly MethodRun[]): [string, string, string] {
  const times = runs
    .map((r) => r.decidedAfterMs)
    .filter((t): t is number => t !== null)
    .sort((a, b) => a - b);
  const verdict = times.length === 0 ? 'no rollback' : `rollback ${times.length}/${runs.length}`;
  const sec = (ms: number) => round(ms / 1000, ms < 10_000 ? 1 : 0);
  const time =
    times.length === 0
      ? '-'
      : times.length === 1
        ? `${sec(times[0]!)}`
        : `${sec(times[Math.floor((times.length - 1) / 2)]!)} (${sec(times[0]!)}-${sec(times.at(-1)!)})`;
  const failed = runs.map((r) => r.canaryFailed).sort((a, b) => a - b);
  return [verdict, time, String(failed[Math.floor((failed.length - 1) / 2)])];
}

async function main(): Promise<void> {
  const atStart = machine();
  log(`machine: ${atStart.cpus} CPUs, load average ${atStart.loadavg.join(' ')} at start`);
  const horizonMs = horizonS * 1000;
  const results: {
    scenario: string;
    what: string;
    rewind: (MethodRun & { trigger: string | null; reason: string })[];
    flagger: MethodRun[];
    argo: MethodRun[];
  }[] = [];
  for (const sc of SCENARIOS) {
    const rewind: (MethodRun & { trigger: string | null; reason: string })[] = [];
    const flagger: MethodRun[] = [];
    const argo: MethodRun[] = [];
    for (let seed = 1; seed <= seeds; seed++) {
      const r: ReplayResult = await replay(
        { rps, weight, stable: STABLE, canary: sc.canary },
        { seed: seed * 7919 + sc.name.length, horizonMs },
      );
      rewind.push({
        decidedAfterMs: r.action === 'rollback' ? r.decidedAfterMs : null,
        verdict: r.action === 'rollback' ? `rollback (${r.trigger})` : r.action,
        canaryFailed: r.canaryFailed,
        trigger: r.trigger,
        reason: r.reason,
      });
      const asRun = (o: CheckOutcome): MethodRun => ({
        decidedAfterMs: o.decidedAfterMs,
        verdict: o.verdict,
        canaryFailed: canaryServed(r.traffic, r.traffic.canaryStart + (o.decidedAfterMs ?? horizonMs)).failed,
      });
      flagger.push(asRun(flaggerStyle(r.traffic, horizonMs)));
      argo.push(asRun(argoStyle(r.traffic, horizonMs)));
    }
    results.push({ scenario: sc.name, what: sc.what, rewind, flagger, argo });
    log(`  ${sc.what}: done`);
  }
  const atEnd = machine();

  log('');
  log(`command: ${commandLine()}`);
  log(machineLine({ cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: atEnd.loadavg }));
  log(
    `traffic: ${rps} req/s (Poisson), canary at ${weight}% (~${Math.round((rps * weight) / 100)} req/s), stable 0.5% errors, latency log-normal median ${STABLE.latencyMedianMs} ms; ${seeds} recordings per canary, ${horizonS} s each`,
  );
  log("Rewind: the controller's RolloutWatch (seed default rules + canary judgment) every 1 s");
  log('Flagger-style: interval 1m, threshold 5, success rate >= 99% and p99 <= 500 ms over 1m');
  log('Argo-style: AnalysisRun interval 1m, failureLimit 3, successCondition error rate < 5% over 1m');
  log('');
  log(
    table(
      [
        'canary',
        'Rewind',
        'time (s)',
        'failed',
        'Flagger-style',
        'time (s)',
        'failed',
        'Argo-style',
        'time (s)',
        'failed',
      ],
      results.map((r) => [r.what, ...cell(r.rewind), ...cell(r.flagger), ...cell(r.argo)]),
    ),
  );
  log('');
  log(
    `time: median (min-max) over the runs that rolled back, from the canary's first traffic; failed: median canary requests failed until the decision (or the ${horizonS} s horizon)`,
  );
  log('What Rewind decided (first recording):');
  for (const r of results) {
    const first = r.rewind[0]!;
    const triggers = [...new Set(r.rewind.map((x) => x.trigger ?? 'none'))].join(', ');
    log(`  ${r.scenario} [${triggers}]: ${first.reason || `no rollback in ${horizonS} s`}`);
  }
  if (json)
    process.stdout.write(
      `${JSON.stringify(
        {
          benchmark: 'judge-compare',
          command: commandLine(),
          machine: { cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: atEnd.loadavg },
          rps,
          weight,
          seeds,
          horizonSeconds: horizonS,
          results,
        },
        null,
        2,
      )}\n`,
    );
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
