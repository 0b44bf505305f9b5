// What the token check costs the API: requests/s of GET /api/v1/apps from the same build with the
// guard on (Host and Origin checks, bearer token looked up by its sha256) and off, side by side.
// Each side is its own process (bench/lib/api-child.ts); the load is closed-loop keep-alive from
// this process, on both sides at once in each round, so that whatever else runs on a shared
// machine at that moment weighs on both alike; the figure is the median of the rounds' ratios.
// Beside requests/s, requests per CPU-second of the server process: what the check costs the
// server itself, much less disturbed by other load on the machine than throughput is.
//
//   node bench/auth.ts [--seconds 3] [--rounds 10] [--connections 16] [--json]

import { spawn } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { ROOT } from '../test/support/rewind-harness.ts';
import { processCpuMs } from './lib/proc-cpu.ts';
import { commandLine, intFlag, machine, machineLine, round, summarize, table } from './lib/rewind-cycle.ts';

const args = process.argv.slice(2);
const seconds = intFlag(args, 'seconds', 3);
const rounds = intFlag(args, 'rounds', 10);
const connections = intFlag(args, 'connections', 16);
const asJson = args.includes('--json');
const log = (line: string) => (asJson ? process.stderr : process.stdout).write(`${line}\n`);

interface Side {
  readonly mode: 'on' | 'off';
  readonly port: number;
  readonly token: string;
  readonly pid: number;
  stop(): void;
}

function startSide(mode: 'on' | 'off'): Promise<Side> {
  const child = spawn(process.execPath, [join(ROOT, 'bench/lib/api-child.ts'), mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /ready (\d+) (\S+)/.exec(out);
      if (m)
        resolve({
          mode,
          port: Number(m[1]),
          token: m[2]!,
          pid: child.pid!,
          stop: () => child.kill('SIGTERM'),
        });
    });
    child.once('exit', (code) => reject(new Error(`api-child ${mode} exited ${code}: ${out}`)));
  });
}

/** Closed loop: `connections` keep-alive loops for `ms`; returns requests/s and non-200 count. */
async function load(side: Side, ms: number): Promise<{ rps: number; perCpuSecond: number; bad: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const headers = { authorization: `Bearer ${side.token}` };
  let ok = 0;
  let bad = 0;
  const end = Date.now() + ms;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = http.get(
        { host: '127.0.0.1', port: side.port, path: '/api/v1/apps', agent, headers },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) ok++;
            else bad++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        bad++;
        resolve();
      });
    });
  const started = performance.now();
  const cpuBefore = processCpuMs(side.pid);
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < end) await one();
    }),
  );
  const took = (performance.now() - started) / 1000;
  const cpu = (processCpuMs(side.pid) - cpuBefore) / 1000;
  agent.destroy();
  return { rps: ok / took, perCpuSecond: ok / cpu, bad };
}

const atStart = machine();
const sides = await Promise.all([startSide('on'), startSide('off')]);
try {
  for (const s of sides) await load(s, 3000); // warm up: JIT, token cache, SQLite statement cache
  const rps: Record<string, number[]> = { on: [], off: [] };
  const perCpu: Record<string, number[]> = { on: [], off: [] };
  const ratios: number[] = [];
  let bad = 0;
  for (let r = 0; r < rounds; r++) {
    // Alternate which side goes first.
    const pair: Record<string, number> = {};
    const runs = await Promise.all(sides.map((s) => load(s, seconds * 1000)));
    for (const [i, s] of sides.entries()) {
      const run = runs[i]!;
      rps[s.mode]!.push(run.rps);
      perCpu[s.mode]!.push(run.perCpuSecond);
      pair[s.mode] = run.rps;
      bad += run.bad;
      log(
        `round ${r + 1} auth ${s.mode}: ${round(run.rps, 0)} req/s, ${round(run.perCpuSecond, 0)} req per server CPU-second`,
      );
    }
    ratios.push(pair.on! / pair.off!);
  }
  const on = summarize(rps.on!);
  const off = summarize(rps.off!);
  const cpuOn = summarize(perCpu.on!);
  const cpuOff = summarize(perCpu.off!);
  const cost = (1 - summarize(ratios).median) * 100;
  const cpuCost = (1 - cpuOn.median / cpuOff.median) * 100;
  const result = {
    command: commandLine(),
    machine: { cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: machine().loadavg },
    seconds,
    rounds,
    connections,
    rpsAuthOn: rps.on,
    rpsAuthOff: rps.off,
    medianOn: round(on.median, 0),
    medianOff: round(off.median, 0),
    perCpuSecondOn: perCpu.on,
    perCpuSecondOff: perCpu.off,
    costPercent: round(cost, 1),
    cpuCostPercent: round(cpuCost, 1),
    non200: bad,
  };
  if (asJson) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  log('');
  log(
    table(
      ['GET /api/v1/apps', 'median req/s', 'min', 'max', 'req per server CPU-s (median)'],
      [
        [
          'auth on (token + Host/Origin checks)',
          round(on.median, 0),
          round(on.min, 0),
          round(on.max, 0),
          round(cpuOn.median, 0),
        ],
        [
          'auth off (same build, guard disabled)',
          round(off.median, 0),
          round(off.min, 0),
          round(off.max, 0),
          round(cpuOff.median, 0),
        ],
      ],
    ),
  );
  log(
    `cost of the guard: ${round(cost, 1)}% of requests/s (median of the ${rounds} paired rounds' on/off ratios; target: within 5%), ${round(cpuCost, 1)}% of requests per server CPU-second; non-200 answers: ${bad}`,
  );
  log(machineLine(result.machine));
  log(`command: ${result.command}`);
  if (bad > 0) process.exitCode = 1;
} finally {
  for (const s of sides) s.stop();
}
