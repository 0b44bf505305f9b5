// Resource and log metrics: what measuring a revision's CPU, memory and error lines costs. A real
// agent (its own process, as `rewind server` starts it) runs --revisions apps of one revision with
// --instances instances each; every instance is a small perl process that listens on its PORT and
// writes --lines lines a second (one in ten an error, as pino writes them: {"level":50,...}). The
// controller's side is this process: once a second, just after the second ends, it reads each
// app's usage through the agent's socket (ProcessRuntime.usage, as the watch does) and sums it per
// revision (usageByRevision).
//
// First --rounds x --seconds nobody reads (the agent only captures the lines, as it always does),
// then as long reading; the cost per watched revision is the difference, per second and per
// revision, for the agent (sampling /proc, matching lines, answering) and for the controller (the
// read and the arithmetic). CPU comes from /proc in clock ticks (10 ms): the longer the windows,
// the finer the figure. Then the parts on their own, in this process: the error-line test per line
// (src/spec/logs-spec.ts) and a /proc scan with the process trees read (proc-stat.ts).
//
//   node bench/resource-metrics.ts [--revisions 1,10,30] [--instances 2] [--lines 0,100] [--seconds 10] [--rounds 3] [--json]
import { readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { usageByRevision } from '../src/features/analysis/index.ts';
import { ProcessTable } from '../src/providers/builtin/process-runtime/proc-stat.ts';
import { ProcessRuntime } from '../src/providers/builtin/process-runtime/process-runtime.ts';
import { isDefaultErrorLine } from '../src/spec/logs-spec.ts';
import { processCpuMs } from './lib/proc-cpu.ts';
import {
  commandLine,
  intFlag,
  machine,
  machineLine,
  round,
  sleep,
  summarize,
  table,
} from './lib/rewind-cycle.ts';

const args = process.argv.slice(2);
const listFlag = (name: string, fallback: string): number[] => {
  const raw =
    args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ??
    (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : undefined) ??
    fallback;
  return raw.split(',').map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} takes integers >= 0, got "${x}"`);
    return n;
  });
};
const revisionCounts = listFlag('revisions', '1,10,30');
const lineRates = listFlag('lines', '0,100');
const instances = intFlag(args, 'instances', 2);
const seconds = intFlag(args, 'seconds', 10);
const rounds = intFlag(args, 'rounds', 3);
const json = args.includes('--json');
const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);

const WRITER = `
use IO::Socket::INET;
use Time::HiRes qw(sleep);
$| = 1;
my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $ENV{PORT}, Listen => 64, ReuseAddr => 1) or die "listen: $!";
my $rate = $ENV{LINES} || 0;
my $n = 0;
while (1) {
  for (1 .. $rate / 10) {
    $n++;
    if ($n % 10 == 0) { print STDERR "{\\"level\\":50,\\"time\\":" . time() . ",\\"msg\\":\\"payment failed\\",\\"order\\":$n}\\n" }
    else { print "{\\"level\\":30,\\"time\\":" . time() . ",\\"msg\\":\\"request served\\",\\"path\\":\\"/products\\",\\"ms\\":3}\\n" }
  }
  sleep(0.1);
}
`;

interface Result {
  readonly revisions: number;
  readonly instances: number;
  readonly linesPerInstance: number;
  readonly hostProcesses: number;
  readonly agentIdleMsPerS: number;
  readonly agentReadingMsPerS: number;
  readonly controllerReadingMsPerS: number;
  /** Per watched revision and second, ms of CPU. */
  readonly agentPerRevision: number;
  readonly controllerPerRevision: number;
  readonly readWallMs: number;
}

const cpuSelfMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function measure(
  runtime: ProcessRuntime,
  agentPid: number,
  dir: string,
  n: number,
  lines: number,
): Promise<Result> {
  const apps = Array.from({ length: n }, (_, i) => `bench-${n}-${lines}-${i}`);
  for (const app of apps)
    for (let index = 0; index < instances; index++)
      await runtime.start({
        app,
        revision: 1,
        index,
        command: 'perl writer.pl',
        cwd: dir,
        env: { LINES: String(lines) },
        stopTimeoutMs: 1000,
      });
  for (const deadline = Date.now() + 30_000; ; ) {
    const all = await runtime.list();
    if (apps.every((app) => all.filter((i) => i.app === app && i.phase === 'Running').length === instances))
      break;
    if (Date.now() > deadline) throw new Error('instances did not start within 30 s');
    await sleep(100);
  }
  await sleep(2000);
  const hostProcesses = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).length;

  // Nobody reads: the agent captures the lines, nothing else.
  const a0 = processCpuMs(agentPid);
  await sleep(rounds * seconds * 1000);
  const agentIdle = (processCpuMs(agentPid) - a0) / (rounds * seconds);

  // The watch's reads: once a second, just after it ends, every app.
  const next = new Map(apps.map((app) => [app, Math.floor(Date.now() / 1000) - 5]));
  const walls: number[] = [];
  const readOnce = async () => {
    for (const app of apps) {
      const started = performance.now();
      const read = await runtime.usage(app, { sinceSecond: next.get(app)! });
      if (read.phase !== 'Successful') throw new Error(`usage of ${app}: ${read.error}`);
      usageByRevision(read, new Map([[1, 1]]));
      for (const s of read.samples) next.set(app, Math.max(next.get(app)!, s.second + 1));
      walls.push(performance.now() - started);
    }
  };
  const untilNextSecond = () => sleep(1000 - (Date.now() % 1000) + 30);
  const window = async () => {
    const a = processCpuMs(agentPid);
    const c = cpuSelfMs();
    for (let i = 0; i < seconds; i++) {
      await untilNextSecond();
      await readOnce();
    }
    return { agent: (processCpuMs(agentPid) - a) / seconds, controller: (cpuSelfMs() - c) / seconds };
  };
  // Two seconds of reading first: the first read of an app counts the lines held before it.
  for (let i = 0; i < 2; i++) {
    await untilNextSecond();
    await readOnce();
  }
  const windows = [];
  for (let r = 0; r < rounds; r++) windows.push(await window());
  for (const app of apps) await runtime.stopRevision(app, 1);
  const agent = summarize(windows.map((w) => w.agent)).mean;
  const controller = summarize(windows.map((w) => w.controller)).mean;
  return {
    revisions: n,
    instances,
    linesPerInstance: lines,
    hostProcesses,
    agentIdleMsPerS: agentIdle,
    agentReadingMsPerS: agent,
    controllerReadingMsPerS: controller,
    agentPerRevision: (agent - agentIdle) / n,
    controllerPerRevision: controller / n,
    readWallMs: summarize(walls).median,
  };
}

/** CPU µs per call of `fn`, over enough calls to last about 200 ms. */
function perCall(fn: () => void): number {
  let calls = 0;
  const started = cpuSelfMs();
  const until = performance.now() + 200;
  while (performance.now() < until) {
    for (let i = 0; i < 100; i++) fn();
    calls += 100;
  }
  return ((cpuSelfMs() - started) * 1000) / calls;
}

const LINES: readonly [string, string][] = [
  [
    'JSON info (pino)',
    '{"level":30,"time":1718000000000,"pid":7,"msg":"request served","path":"/products","ms":3}',
  ],
  ['JSON error (pino)', '{"level":50,"time":1718000000000,"pid":7,"msg":"payment failed","order":1234}'],
  ['plain info', '2024-06-10T10:00:00.000Z INFO request served path=/products ms=3 user=42 status=200'],
  ['plain error', '2024-06-10T10:00:00.000Z ERROR payment failed order=1234 reason="card declined"'],
  ['stack frame', '    at processTicksAndRejections (node:internal/process/task_queues:95:5)'],
];

/** The parts on their own: the line test, and a scan of /proc with the trees read. */
function parts(pids: readonly number[]): { what: string; us: number }[] {
  const out = LINES.map(([what, line]) => ({
    what: `error-line test: ${what}`,
    us: perCall(() => isDefaultErrorLine(line)),
  }));
  const table = new ProcessTable();
  table.scan();
  const hostProcesses = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).length;
  out.push({ what: `/proc scan (${hostProcesses} processes, none new)`, us: perCall(() => table.scan()) });
  out.push({
    what: `/proc scan + ${pids.length} trees read`,
    us: perCall(() => {
      table.scan();
      for (const pid of pids) table.tree(pid);
    }),
  });
  return out;
}

async function main(): Promise<void> {
  const atStart = machine();
  const dir = await mkdtemp(join(tmpdir(), 'rewind-bench-usage-'));
  writeFileSync(join(dir, 'writer.pl'), WRITER);
  const { runtime } = await ProcessRuntime.connect(join(dir, 'data'));
  const agentPid = (await runtime.client.info()).pid;
  const results: Result[] = [];
  let breakdown: { what: string; us: number }[] = [];
  try {
    // The parts, with 10 instances running (their trees are what a tick reads).
    const apps = Array.from({ length: 10 }, (_, i) => `parts-${i}`);
    for (const app of apps)
      await runtime.start({
        app,
        revision: 1,
        index: 0,
        command: 'perl writer.pl',
        cwd: dir,
        env: {},
        stopTimeoutMs: 1000,
      });
    await sleep(1000);
    const pids = (await runtime.list()).flatMap((i) => (i.pid === null ? [] : [i.pid]));
    breakdown = parts(pids);
    for (const app of apps) await runtime.stopRevision(app, 1);
    for (const lines of lineRates)
      for (const n of revisionCounts) {
        const r = await measure(runtime, agentPid, dir, n, lines);
        results.push(r);
        log(
          `${n} revisions x ${instances} instances, ${lines} lines/s each: agent ${round(r.agentPerRevision, 2)} ms/s, controller ${round(r.controllerPerRevision, 2)} ms/s per revision`,
        );
      }
  } finally {
    await runtime.client.shutdown().catch(() => {});
    runtime.close();
    await rm(dir, { recursive: true, force: true });
  }
  const atEnd = machine();
  log('');
  log(commandLine());
  log(machineLine({ cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: atEnd.loadavg }));
  log(
    `each revision: ${instances} instances (perl, listening, writing the given lines a second, 1 in 10 an error line as JSON); read once a second through the agent's socket; ${rounds} x ${seconds} s not reading, then reading; node ${process.version}`,
  );
  log('');
  log(
    table(
      [
        'revisions',
        'lines/s per instance',
        'processes on the host',
        'agent idle (ms/s)',
        'agent reading (ms/s)',
        'controller reading (ms/s)',
        'agent per revision (ms/s)',
        'controller per revision (ms/s)',
        'read round trip (ms)',
      ],
      results.map((r) => [
        r.revisions,
        r.linesPerInstance,
        r.hostProcesses,
        round(r.agentIdleMsPerS, 1),
        round(r.agentReadingMsPerS, 1),
        round(r.controllerReadingMsPerS, 1),
        round(r.agentPerRevision, 2),
        round(r.controllerPerRevision, 2),
        round(r.readWallMs, 2),
      ]),
    ),
  );
  log('');
  log(
    'ms/s: milliseconds of CPU per second (10 ms/s is 1% of a core). Per revision: (reading - idle) / revisions.',
  );
  log('');
  log(
    table(
      ['part', 'CPU per call (µs)'],
      breakdown.map((b) => [b.what, round(b.us, 2)]),
    ),
  );
  if (json)
    process.stdout.write(
      `${JSON.stringify(
        {
          benchmark: 'resource-metrics',
          command: commandLine(),
          machine: { cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: atEnd.loadavg },
          node: process.version,
          results,
          breakdown,
        },
        null,
        2,
      )}\n`,
    );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
