// Controller scale: CPU time of the analysis of one rollout per evaluation, and how many rollouts
// analysed every second fit in one core. N simulated canaries (healthy, so they are never decided
// and stay under watch) each get the controller's own RolloutWatch evaluation (pointsFromSamples,
// SeriesBuffer, assessRule on the seed default rules, judgeCanary, decideAction) once per simulated
// second, in one process, one after the other. Each watch is first filled with a full history
// (the SeriesBuffer's capacity: the longest rule window plus a minute), the steady state of a long
// canary; the data plane read (an IPC call in the real controller) is not counted: the buckets are
// in memory. With --persist each count runs twice, side by side: the series in memory only, and
// also persisted once per evaluation to a real SQLite store (what the controller does, so that a
// restart resumes its windows); the store's work is in-process and counted. With --restored each
// count also runs as the watch after a rollback: the revision alone (no baseline, no judgment),
// judged by the verification checklist and the default rules (features/rollouts/rollback-watch.ts).
//
//   node bench/controller-scale.ts [--rollouts 10,100,1000] [--rps 500] [--weight 10] [--rounds N] [--persist] [--restored] [--json]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requiredHistorySeconds } from '../src/features/analysis/index.ts';
import { restoredRevisionRules } from '../src/features/rollouts/rollback-watch.ts';
import { verifySpecSchema } from '../src/spec/verify-spec.ts';
import { openStore } from '../src/store/open-store.ts';
import type { Store } from '../src/store/types.ts';
import { defaultAnalysis, SimulatedRollout, SimulatedTraffic, STABLE } from './lib/canary-sim.ts';
import { commandLine, intFlag, machine, machineLine, round, summarize, table } from './lib/rewind-cycle.ts';

const args = process.argv.slice(2);
const listArg =
  args.find((a) => a.startsWith('--rollouts='))?.slice(11) ??
  (args.includes('--rollouts') ? args[args.indexOf('--rollouts') + 1] : undefined);
const counts = (listArg ?? '10,100,1000').split(',').map((x) => {
  const n = Number(x);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--rollouts takes positive integers, got "${x}"`);
  return n;
});
const rps = intFlag(args, 'rps', 500);
const weight = intFlag(args, 'weight', 10);
const roundsFlag = args.some((a) => a.startsWith('--rounds')) ? intFlag(args, 'rounds', 5) : null;
const json = args.includes('--json');
const persist = args.includes('--persist');
const restored = args.includes('--restored');
const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);

interface Result {
  readonly rollouts: number;
  readonly series: 'memory' | 'sqlite';
  /** canary: beside its baseline, with the judgment; restored: alone, as after a rollback. */
  readonly watch: 'canary' | 'restored';
  readonly rounds: number;
  readonly historySeconds: number;
  readonly cpuUsPerEvaluation: number;
  readonly wallUsPerEvaluation: number;
  readonly p99WallUs: number;
  readonly roundCpuMs: number;
  readonly fitInOneCore: number;
  readonly heapMB: number;
  readonly decisions: number;
}

async function measure(n: number, store: Store | null, watch: Result['watch'] = 'canary'): Promise<Result> {
  const spec = defaultAnalysis();
  const alone =
    watch === 'restored'
      ? restoredRevisionRules({ analysis: spec, verify: verifySpecSchema.parse({}) })
      : undefined;
  const history = requiredHistorySeconds(spec);
  const t0 = 1_700_000_000_000;
  const sims: SimulatedRollout[] = [];
  const run = `${n}-${store ? 'p' : 'm'}-${watch}`;
  if (store) await store.apps.upsert(`shop-${run}`, {});
  for (let i = 0; i < n; i++) {
    if (store) {
      // One unfinished rollout per app: the bench's rollouts are recorded finished.
      const ro = await store.rollouts.create({
        id: `r${i}-${run}`,
        app: `shop-${run}`,
        kind: 'deploy',
        strategy: 'canary',
        fromRevision: 1,
        toRevision: 2,
        phase: 'Progressing',
        state: { steps: [], index: 0, stepStartedAt: null, weight: 100, compensation: null },
      });
      await store.rollouts.update(ro.id, { phase: 'Completed' });
    }
    const start = t0 + ((i * 37) % 1000);
    // 120 distinct seconds of traffic, repeated: the cost does not depend on the values.
    const traffic = new SimulatedTraffic({ rps, weight, stable: STABLE, canary: STABLE }, start, i + 1, {
      pool: 120,
    });
    sims.push(new SimulatedRollout(traffic, spec, `r${i}-${run}`, store?.analysis, alone));
  }
  // Fill each watch: a first evaluation, then one a full history later (it reads every second since).
  let now = t0 + 1100;
  for (const s of sims) await s.evaluate(now);
  now += history * 1000;
  for (const s of sims) await s.evaluate(now);

  const rounds = roundsFlag ?? Math.max(3, Math.min(30, Math.ceil(3000 / n)));
  const walls: number[] = [];
  let decisions = 0;
  globalThis.gc?.();
  const cpu = process.cpuUsage();
  const wallStart = performance.now();
  for (let r = 0; r < rounds; r++) {
    now += spec.interval;
    for (const s of sims) {
      const t = performance.now();
      const result = await s.evaluate(now);
      walls.push((performance.now() - t) * 1000);
      if (result && result.decision.action !== 'none') decisions++;
    }
  }
  const wall = (performance.now() - wallStart) * 1000;
  const used = process.cpuUsage(cpu);
  const cpuUs = used.user + used.system;
  const evaluations = n * rounds;
  const perEval = cpuUs / evaluations;
  return {
    rollouts: n,
    series: store ? 'sqlite' : 'memory',
    watch,
    rounds,
    historySeconds: history,
    cpuUsPerEvaluation: perEval,
    wallUsPerEvaluation: wall / evaluations,
    p99WallUs: summarize(walls).p99,
    roundCpuMs: cpuUs / rounds / 1000,
    fitInOneCore: Math.floor(1e6 / perEval),
    heapMB: process.memoryUsage().heapUsed / 1e6,
    decisions,
  };
}

async function main(): Promise<void> {
  const atStart = machine();
  log(`machine: ${atStart.cpus} CPUs, load average ${atStart.loadavg.join(' ')} at start`);
  const results: Result[] = [];
  const dir = persist ? await mkdtemp(join(tmpdir(), 'rewind-scale-')) : null;
  const store = dir ? await openStore({ dataDir: join(dir, 'data') }) : null;
  try {
    for (const n of counts) {
      log(`  ${n} rollouts...`);
      results.push(await measure(n, null));
      if (restored) results.push(await measure(n, null, 'restored'));
      if (store) results.push(await measure(n, store));
      if (store && restored) results.push(await measure(n, store, 'restored'));
    }
  } finally {
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }
  const atEnd = machine();
  log('');
  log(`command: ${commandLine()}`);
  log(machineLine({ cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: atEnd.loadavg }));
  log(
    `each rollout: healthy canary at ${weight}% of ${rps} req/s, seed default rules + judgment, ${results[0]?.historySeconds ?? '?'} s of history per revision (full SeriesBuffer), evaluated every 1 s; node ${process.version}`,
  );
  log('');
  log(
    table(
      [
        'rollouts',
        'watch',
        'series',
        'rounds',
        'CPU/rollout/eval (ms)',
        'wall/eval (ms)',
        'p99 wall/eval (ms)',
        'CPU per 1 s round (ms)',
        'share of a core',
        'heap (MB)',
        'fit in one core',
      ],
      results.map((r) => [
        r.rollouts,
        r.watch,
        r.series,
        r.rounds,
        round(r.cpuUsPerEvaluation / 1000, 3),
        round(r.wallUsPerEvaluation / 1000, 3),
        round(r.p99WallUs / 1000, 3),
        round(r.roundCpuMs, 1),
        `${round(r.roundCpuMs / 10, 1)}%`,
        Math.round(r.heapMB),
        r.fitInOneCore,
      ]),
    ),
  );
  log('');
  log(
    'fit in one core: rollouts whose every-second evaluation adds up to 1 s of CPU per second (1 / CPU per evaluation).',
  );
  log(
    'Not counted: reading the data plane (an IPC round trip per rollout and evaluation), the journal, the reconcile tick.',
  );
  if (json)
    process.stdout.write(
      `${JSON.stringify(
        {
          benchmark: 'controller-scale',
          command: commandLine(),
          machine: { cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: atEnd.loadavg },
          node: process.version,
          rps,
          weight,
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
