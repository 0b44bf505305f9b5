// Detection benchmark, end to end: a real rewind server rolls out bad canaries of the shop under an
// open-loop load at a fixed rate, with a stable revision failing 0.5% of its requests. For each bad
// canary (errors 2%, 5%, 20%, 100%; latency x3; a crash after N requests) it reports the time from
// the canary's first bad response to the decision and to all traffic being back on the stable
// revision, and the requests the canary failed meanwhile. A canary still running at the cap is
// aborted by the benchmark and reported "not detected".
//
//   node bench/detection.ts [--rps 500] [--weight 10] [--cap 60] [--crash-after 200] [--base-latency-ms 10] [--latency-ms N]
//                           [--only err2,err5,err8,err20,err50,err100,latency,crash] [--json]
// --weight 100: a blue-green switch with the default analysis (the before/after judgment) instead.

import { quantile } from '../src/features/analysis/index.ts';
import { LATENCY_BOUNDS_MS, type MetricsBucket } from '../src/providers/builtin/proxy/types.ts';
import { type CanaryRun, canaryConfig, runCanary, startCanaryRewind } from './lib/canary-rewind.ts';
import { OpenLoop, ok } from './lib/open-loop.ts';
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
const rps = intFlag(args, 'rps', 500);
const weight = intFlag(args, 'weight', 10);
const capS = intFlag(args, 'cap', 60);
const crashAfter = intFlag(args, 'crash-after', 200);
const BASE_LATENCY_MS = intFlag(args, 'base-latency-ms', 10);
const latencyFlag = args.some((a) => a.startsWith('--latency-ms')) ? intFlag(args, 'latency-ms', 1) : null;
const onlyArg = args.find((a) => a.startsWith('--only='))?.slice(7) ?? args[args.indexOf('--only') + 1];
const only = args.some((a) => a.startsWith('--only')) ? new Set(onlyArg?.split(',')) : null;
const json = args.includes('--json');
const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);
const STABLE_ERROR_RATE = 0.005;

interface Scenario {
  readonly name: string;
  readonly what: string;
  readonly env: Record<string, string>;
  /** Latency scenarios: the first canary response counts as the first bad one. */
  readonly latency?: boolean;
  readonly target?: string;
}

const s = (x: number | null): string | number => (x === null ? '-' : round(x / 1000, 2));

async function main(): Promise<number> {
  const atStart = machine();
  log(`machine: ${atStart.cpus} CPUs, load average ${atStart.loadavg.join(' ')} at start`);
  const h = await startCanaryRewind(
    canaryConfig({
      weight,
      pause: '10m',
      baseErrorRate: STABLE_ERROR_RATE,
      baseLatencyMs: BASE_LATENCY_MS,
      instances: 1,
    }),
  );
  const api = new ApiClient(h.apiUrl, h.token);
  const load = new OpenLoop(`${h.appUrl}/products`, rps);
  const results: { scenario: Scenario; run: CanaryRun; detectS: number | null; switchS: number | null }[] =
    [];
  try {
    await api.waitIdle();
    const stableVersion = (await api.status()).stableVersion ?? 'v1';
    log(
      `rewind up: api ${h.apiUrl}, app ${h.appUrl}, stable ${stableVersion} (SHOP_ERROR_RATE=${STABLE_ERROR_RATE})`,
    );
    log(
      `load: open loop, ${rps} req/s on ${h.appUrl}/products; canary weight ${weight}%, cap ${capS}s per scenario`,
    );
    load.start();
    await sleep(1000);
    load.takeSamples();
    await sleep(3000);
    const warm = load.takeSamples().filter(ok);
    const lat = warm.map((x) => x.doneAt - x.sentAt).sort((a, b) => a - b);
    const stableMedian = lat[Math.floor(lat.length / 2)] ?? 1;
    // The judgment compares latencies as the proxy measures them (upstream time), far below what
    // this client sees under its own load: read the stable's median from the data plane.
    const buckets = await api.get<MetricsBucket[]>(
      `/api/v1/apps/shop/metrics?since=${Math.floor(Date.now() / 1000) - 3}`,
    );
    const histogram = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
    for (const b of buckets)
      for (const r of b.revisions)
        for (let i = 0; i < histogram.length; i++) histogram[i]! += r.latency[i] ?? 0;
    const proxyMedian = quantile({ boundsMs: LATENCY_BOUNDS_MS, counts: histogram }, 0.5) ?? 1;
    // SHOP_LATENCY_MS is added to what the stable takes: 2x its median makes the canary about 3x,
    // but the shop's timer has a 1 ms floor.
    // Every revision takes BASE_LATENCY_MS on purpose (a service that does some work); the latency
    // canary takes three times that. Sub-millisecond differences are below the judgment's 5 ms floor.
    const addMs = latencyFlag ?? 3 * BASE_LATENCY_MS;
    log(
      `stable revision: median latency ${round(proxyMedian, 3)} ms at the proxy, ${round(stableMedian, 2)} ms at this client (${warm.length} requests in 3 s); latency canary gets SHOP_LATENCY_MS=${addMs}`,
    );

    const all: Scenario[] = [
      { name: 'err2', what: 'errors 2%', env: { SHOP_ERROR_RATE: '0.02' } },
      { name: 'err5', what: 'errors 5%', env: { SHOP_ERROR_RATE: '0.05' }, target: '< 10 s' },
      { name: 'err8', what: 'errors 8%', env: { SHOP_ERROR_RATE: '0.08' } },
      { name: 'err20', what: 'errors 20%', env: { SHOP_ERROR_RATE: '0.2' }, target: '< 2 s' },
      { name: 'err50', what: 'errors 50%', env: { SHOP_ERROR_RATE: '0.5' } },
      { name: 'err100', what: 'errors 100%', env: { SHOP_ERROR_RATE: '1' } },
      {
        name: 'latency',
        what: `latency x3 (${BASE_LATENCY_MS} -> ${addMs} ms)`,
        env: { SHOP_LATENCY_MS: String(addMs) },
        latency: true,
      },
      {
        name: 'crash',
        what: `crash after ${crashAfter} requests`,
        env: { SHOP_CRASH_AFTER: String(crashAfter) },
      },
    ];
    const scenarios = all.filter((x) => !only || only.has(x.name));

    let n = 1;
    for (const scenario of scenarios) {
      n++;
      const version = `v${n}-${scenario.name}`;
      log(
        `\n${scenario.what}: deploying ${version} ${weight >= 100 ? 'by a blue-green switch' : `as a ${weight}% canary`}...`,
      );
      const run = await runCanary(api, load, {
        version,
        env: scenario.env,
        stableVersion,
        capMs: capS * 1000,
      });
      const firstBad = scenario.latency ? run.canaryFirstResponseAt : run.canaryFirstBadAt;
      const rolledBack = run.phase === 'RolledBack' && !run.capped;
      const detectS =
        rolledBack && firstBad !== null && run.decisionAt !== null ? run.decisionAt - firstBad : null;
      const switchS =
        rolledBack && firstBad !== null && run.lastNotStableSentAt !== null
          ? run.lastNotStableSentAt - firstBad
          : null;
      results.push({ scenario, run, detectS, switchS });
      log(
        `  ${run.capped ? `not detected within ${capS}s (aborted by the bench)` : run.phase}; canary ${run.canaryRequests} requests, ${run.canaryFailed} failed; median client-side latency canary ${run.canaryMedianMs === null ? '-' : round(run.canaryMedianMs, 2)} ms vs stable ${run.stableMedianMs === null ? '-' : round(run.stableMedianMs, 2)} ms`,
      );
      if (run.decisionMessage) log(`  ${run.decisionMessage}`);
      // The next canary starts from a quiet app: the aborted or rolled-back one is stopped.
      await api.waitIdle(30_000);
      await sleep(1000);
    }
    await load.stop();
    const atEnd = machine();

    const rows = results.map(({ scenario, run, detectS, switchS }) => [
      scenario.what,
      run.canaryRequests,
      run.canaryFailed,
      run.capped ? `not detected in ${capS}s` : run.phase === 'RolledBack' ? 'rolled back' : run.phase,
      s(detectS),
      s(switchS),
      s(
        run.trafficAt !== null && run.decisionAt !== null && !run.capped
          ? run.decisionAt - run.trafficAt
          : null,
      ),
      // The automatic path: the decision journalled -> the table with the stable revision applied.
      run.decisionAt !== null && run.switchedBackAt !== null
        ? round(run.switchedBackAt - run.decisionAt, 1)
        : '-',
      scenario.target ?? '',
    ]);
    log('');
    log(`command: ${commandLine()}`);
    log(machineLine({ cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: atEnd.loadavg }));
    log(
      `load: open loop ${rps} req/s (${load.skipped} not sent: generator limit); canary at ${weight}%, stable 0.5% errors, median ${round(proxyMedian, 3)} ms at the proxy`,
    );
    log('');
    log(
      table(
        [
          'bad canary',
          'canary reqs',
          'canary failed',
          'outcome',
          'first bad -> decision (s)',
          'first bad -> 100% stable (s)',
          'traffic -> decision (s)',
          'decision -> switch (ms)',
          'target',
        ],
        rows,
      ),
    );
    log('');
    log(
      '"first bad": the first failed response from the canary (latency: its first response); "100% stable": the',
    );
    log('send time after which every request was answered by the stable revision. Decisions:');
    for (const { scenario, run } of results)
      log(
        `  ${scenario.name}: ${run.decisionMessage ?? (run.capped ? 'no decision before the cap' : `ended ${run.phase}${run.otherEnd ? ` (${run.otherEnd})` : ''}`)}`,
      );
    if (json)
      process.stdout.write(
        `${JSON.stringify(
          {
            benchmark: 'detection',
            command: commandLine(),
            machine: { cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: atEnd.loadavg },
            rps,
            weight,
            capSeconds: capS,
            stableErrorRate: STABLE_ERROR_RATE,
            stableMedianMsAtProxy: proxyMedian,
            stableMedianMsAtClient: stableMedian,
            generatorSkipped: load.skipped,
            results: results.map(({ scenario, run, detectS, switchS }) => ({
              scenario: scenario.name,
              what: scenario.what,
              env: scenario.env,
              outcome: run.capped ? 'not detected' : run.phase,
              canaryRequests: run.canaryRequests,
              canaryFailed: run.canaryFailed,
              stableRequests: run.stableRequests,
              stableFailed: run.stableFailed,
              canaryMedianMs: run.canaryMedianMs,
              stableMedianMs: run.stableMedianMs,
              firstBadToDecisionMs: detectS,
              firstBadToAllStableMs: switchS,
              trafficToDecisionMs:
                run.trafficAt !== null && run.decisionAt !== null && !run.capped
                  ? run.decisionAt - run.trafficAt
                  : null,
              decisionToSwitchMs:
                run.decisionAt !== null && run.switchedBackAt !== null
                  ? run.switchedBackAt - run.decisionAt
                  : null,
              decision: run.decisionMessage,
            })),
          },
          null,
          2,
        )}\n`,
      );
    return 0;
  } finally {
    await load.stop().catch(() => {});
    api.close();
    await h.closeOnce();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
