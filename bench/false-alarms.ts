// False-alarm benchmark: a healthy canary (the same 0.5% error rate and latency as the stable
// revision) must not be rolled back. Two parts:
//   1. simulated: --runs canaries of --requests canary requests each, on simulated per-second
//      traffic, analysed by the controller's own RolloutWatch every second (seed default rules,
//      canary judgment, decision matrix; bench/lib/canary-sim.ts);
//   2. real: --real end-to-end canaries through a real rewind server under open-loop load, each
//      held --real-pause seconds at --weight% before promotion, to show the live path agrees.
// Target: fewer than 1 false rollback in 100.
//
//   node bench/false-alarms.ts [--runs 100] [--requests 5000] [--rps 500] [--weight 10]
//                              [--real 5] [--real-pause 20] [--json]
import { canaryConfig, runCanary, startCanaryRewind } from './lib/canary-rewind.ts';
import { replay, STABLE } from './lib/canary-sim.ts';
import { OpenLoop } from './lib/open-loop.ts';
import {
  ApiClient,
  commandLine,
  intFlag,
  machine,
  machineLine,
  round,
  sleep,
  table,
} from './lib/rewind-cycle.ts';

const args = process.argv.slice(2);
const runs = intFlag(args, 'runs', 100);
const requests = intFlag(args, 'requests', 5000);
const rps = intFlag(args, 'rps', 500);
const weight = intFlag(args, 'weight', 10);
const real = intFlag(args, 'real', 5, true);
const realPause = intFlag(args, 'real-pause', 20);
const json = args.includes('--json');
const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);

/** One-sided 95% upper bound (Clopper-Pearson for 0 events: 1 - 0.05^(1/n); Wilson otherwise). */
function upper95(k: number, n: number): number {
  if (n === 0) return 1;
  if (k === 0) return 1 - 0.05 ** (1 / n);
  const z = 1.645;
  const p = k / n;
  const centre = p + (z * z) / (2 * n);
  const spread = z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  return Math.min(1, (centre + spread) / (1 + (z * z) / n));
}

interface Alarm {
  readonly run: number;
  readonly afterS: number | null;
  readonly trigger: string | null;
  readonly reason: string;
}

async function simulated(): Promise<{
  alarms: Alarm[];
  seconds: number;
  canaryRequests: number;
  cpuMs: number;
}> {
  const canaryRps = (rps * weight) / 100;
  const seconds = Math.ceil(requests / canaryRps);
  const alarms: Alarm[] = [];
  let canaryRequests = 0;
  const cpu = process.cpuUsage();
  for (let i = 1; i <= runs; i++) {
    const r = await replay(
      { rps, weight, stable: STABLE, canary: STABLE },
      { seed: 104729 * i + 17, horizonMs: seconds * 1000 },
    );
    canaryRequests += r.canaryRequests;
    if (r.action === 'rollback' || r.action === 'pause')
      alarms.push({
        run: i,
        afterS: r.decidedAfterMs === null ? null : r.decidedAfterMs / 1000,
        trigger: r.trigger,
        reason: `${r.action}: ${r.reason}`,
      });
    if (i % 25 === 0) log(`  simulated ${i}/${runs}: ${alarms.length} false rollbacks`);
  }
  const used = process.cpuUsage(cpu);
  return { alarms, seconds, canaryRequests, cpuMs: (used.user + used.system) / 1000 };
}

async function live(): Promise<{
  alarms: Alarm[];
  completed: number;
  canaryRequests: number;
  other: string[];
}> {
  const alarms: Alarm[] = [];
  const other: string[] = [];
  let completed = 0;
  let canaryRequests = 0;
  if (real === 0) return { alarms, completed, canaryRequests, other };
  const h = await startCanaryRewind(
    canaryConfig({ weight, pause: `${realPause}s`, baseErrorRate: 0.005, instances: 1 }),
  );
  const api = new ApiClient(h.apiUrl, h.token);
  const load = new OpenLoop(`${h.appUrl}/products`, rps);
  try {
    await api.waitIdle();
    load.start();
    await sleep(2000);
    for (let i = 1; i <= real; i++) {
      const stableVersion = (await api.status()).stableVersion ?? 'v1';
      const run = await runCanary(api, load, {
        version: `v${i + 1}`,
        env: {},
        stableVersion,
        capMs: (realPause + 30) * 1000,
      });
      canaryRequests += run.canaryRequests;
      // A decision is a false alarm even when the rollout had reached Completed: the post-deploy
      // watch goes on judging the release after its bake, and rolls it back from there.
      if (run.decisionAt !== null)
        alarms.push({
          run: i,
          afterS: run.trafficAt === null ? null : (run.decisionAt - run.trafficAt) / 1000,
          trigger: null,
          reason: run.decisionMessage ?? '',
        });
      else if (run.phase === 'Completed') completed++;
      else other.push(`run ${i}: ended ${run.phase}${run.capped ? ' (capped)' : ''}`);
      log(
        `  real ${i}/${real}: ${run.phase}, canary ${run.canaryRequests} requests (${run.canaryFailed} failed), stable ${run.stableRequests} (${run.stableFailed} failed)${run.decisionMessage ? `: ${run.decisionMessage}` : ''}`,
      );
      await api.waitIdle(30_000);
    }
  } finally {
    await load.stop().catch(() => {});
    api.close();
    await h.closeOnce();
  }
  return { alarms, completed, canaryRequests, other };
}

async function main(): Promise<void> {
  const atStart = machine();
  log(`machine: ${atStart.cpus} CPUs, load average ${atStart.loadavg.join(' ')} at start`);
  log(
    `simulated: ${runs} healthy canaries of ${requests} canary requests (${rps} req/s, canary ${weight}%)...`,
  );
  const sim = await simulated();
  log(
    `real: ${real} healthy canaries end to end, ${realPause} s at ${weight}% under ${rps} req/s open-loop load...`,
  );
  const liveResult = await live();
  const atEnd = machine();

  const liveRuns = liveResult.completed + liveResult.alarms.length + liveResult.other.length;
  const rows = [
    [
      'simulated (RolloutWatch)',
      runs,
      `${sim.seconds} s / ~${requests}`,
      sim.alarms.length,
      `${round(upper95(sim.alarms.length, runs) * 100, 2)}%`,
      [...new Set(sim.alarms.map((a) => a.trigger))].join(', ') || '-',
    ],
    [
      'real end to end',
      liveRuns,
      `${realPause} s / ~${Math.round(liveResult.canaryRequests / Math.max(1, liveRuns))}`,
      liveResult.alarms.length,
      `${round(upper95(liveResult.alarms.length, liveRuns) * 100, 2)}%`,
      liveResult.alarms.map((a) => /on (\w+):/.exec(a.reason)?.[1] ?? 'rule').join(', ') || '-',
    ],
  ];
  log('');
  log(`command: ${commandLine()}`);
  log(machineLine({ cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: atEnd.loadavg }));
  log(
    `healthy canary = stable: 0.5% errors, same latency; ${rps} req/s, canary ${weight}%; seed default rules + judgment (confidence 0.99, minSample 50); simulation CPU ${round(sim.cpuMs / 1000, 1)} s`,
  );
  log('');
  log(
    table(
      [
        'healthy canaries',
        'runs',
        'per run (time / canary reqs)',
        'false rollbacks',
        '95% upper bound',
        'triggers',
      ],
      rows,
    ),
  );
  log('');
  log('target: fewer than 1 false rollback in 100');
  for (const a of [
    ...sim.alarms.map((x) => ({ ...x, kind: 'simulated' })),
    ...liveResult.alarms.map((x) => ({ ...x, kind: 'real' })),
  ])
    log(`  ${a.kind} run ${a.run} after ${a.afterS === null ? '?' : round(a.afterS, 1)} s: ${a.reason}`);
  for (const o of liveResult.other) log(`  real ${o}`);
  if (json)
    process.stdout.write(
      `${JSON.stringify(
        {
          benchmark: 'false-alarms',
          command: commandLine(),
          machine: { cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: atEnd.loadavg },
          rps,
          weight,
          simulated: {
            runs,
            requestsPerRun: requests,
            secondsPerRun: sim.seconds,
            falseRollbacks: sim.alarms.length,
            alarms: sim.alarms,
            cpuMs: sim.cpuMs,
          },
          real: {
            runs: liveRuns,
            pauseSeconds: realPause,
            completed: liveResult.completed,
            falseRollbacks: liveResult.alarms.length,
            alarms: liveResult.alarms,
            other: liveResult.other,
          },
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
