// How fast `rewind <cmd>` starts: wall time of `node -e 0` (the floor: Node itself) beside
// `rewind --help`, `--version` and `status` against a real running server (target: median
// < 150 ms each), and for comparison the same `--help` without Node's compile cache (every .ts
// file type-stripped at each start) and through `npx`. Each round runs every command once, in
// turn, so that whatever else runs on the machine weighs on all of them alike; one warm-up round
// first fills the compile cache the way a user's first call does. Beside wall time, the CPU the
// command used (user + system, from /proc/self/stat of this process's waited-for children),
// much less disturbed by other load than wall time is.
//
//   node bench/cli.ts [--runs 20] [--no-npx] [--json]

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT } from '../test/support/rewind-harness.ts';
import { waitedChildrenCpuMs } from './lib/proc-cpu.ts';
import {
  commandLine,
  intFlag,
  machine,
  machineLine,
  round,
  startBenchRewind,
  summarize,
  table,
} from './lib/rewind-cycle.ts';

const args = process.argv.slice(2);
const runs = intFlag(args, 'runs', 20);
const withNpx = !args.includes('--no-npx');
const asJson = args.includes('--json');
const log = (line: string) => (asJson ? process.stderr : process.stdout).write(`${line}\n`);
const TARGET_MS = 150;

interface Case {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Record<string, string>;
  /** Held to TARGET_MS. */
  readonly targeted: boolean;
}

const atStart = machine();
log(`${commandLine()}\n${runs} runs of each command, interleaved`);
const h = await startBenchRewind();
try {
  const bin = join(ROOT, 'bin/rewind.js');
  const node = process.execPath;
  const cases: Case[] = [
    { name: 'node -e 0', command: node, args: ['-e', '0'], targeted: false },
    { name: 'rewind --help', command: node, args: [bin, '--help'], targeted: true },
    { name: 'rewind --version', command: node, args: [bin, '--version'], targeted: true },
    {
      name: 'rewind status shop',
      command: node,
      args: [bin, '--url', h.apiUrl, 'status', 'shop'],
      env: { REWIND_TOKEN: h.token },
      targeted: true,
    },
    {
      name: 'rewind --help, no compile cache',
      command: node,
      args: [bin, '--help'],
      env: { NODE_DISABLE_COMPILE_CACHE: '1' },
      targeted: false,
    },
    ...(withNpx
      ? [{ name: 'npx rewind --help', command: 'npx', args: ['rewind', '--help'], targeted: false }]
      : []),
  ];
  const samples = new Map(cases.map((c) => [c.name, { wallMs: [] as number[], cpuMs: [] as number[] }]));
  const runOnce = (c: Case) => {
    const cpuBefore = waitedChildrenCpuMs();
    const started = performance.now();
    const r = spawnSync(c.command, c.args, {
      cwd: ROOT,
      env: { ...process.env, ...c.env },
      encoding: 'utf8',
    });
    const wallMs = performance.now() - started;
    if (r.status !== 0) throw new Error(`${c.name} exited ${r.status}: ${r.stderr || r.error}`);
    return { wallMs, cpuMs: waitedChildrenCpuMs() - cpuBefore };
  };
  for (const c of cases) runOnce(c);
  for (let i = 0; i < runs; i++)
    for (const c of cases) {
      const s = runOnce(c);
      samples.get(c.name)!.wallMs.push(s.wallMs);
      samples.get(c.name)!.cpuMs.push(s.cpuMs);
    }

  const floor = summarize(samples.get('node -e 0')!.wallMs).median;
  const results = cases.map((c) => {
    const wall = summarize(samples.get(c.name)!.wallMs);
    const cpu = summarize(samples.get(c.name)!.cpuMs);
    return {
      name: c.name,
      medianMs: round(wall.median),
      p90Ms: round(wall.p90),
      minMs: round(wall.min),
      cpuMeanMs: round(cpu.mean),
      overNodeMs: round(wall.median - floor),
      target: c.targeted ? (wall.median < TARGET_MS ? 'met' : 'MISSED') : '',
    };
  });
  const atEnd = machine();
  const m = { cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: atEnd.loadavg };
  if (asJson) process.stdout.write(`${JSON.stringify({ runs, targetMs: TARGET_MS, machine: m, results })}\n`);
  log(
    `\n${table(
      [
        'command',
        'median ms',
        'p90 ms',
        'min ms',
        'CPU ms (mean)',
        'median - node -e 0',
        `< ${TARGET_MS} ms`,
      ],
      results.map((r) => [r.name, r.medianMs, r.p90Ms, r.minMs, r.cpuMeanMs, r.overNodeMs, r.target]),
    )}`,
  );
  log(machineLine(m));
} finally {
  await h.closeOnce();
}
