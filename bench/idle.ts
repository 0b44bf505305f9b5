// Idle controller: CPU of a real `rewind server` (the shop, 2 instances, health probes every 1 s,
// the default) and of its agent while nothing happens. The controller reconciles every 100 ms on
// the event loop that also answers the API and OFREP, so this is the floor every request shares
// the loop with. --rounds windows of --seconds each, after the initial deploy has finished.
//
//   node bench/idle.ts [--seconds 10] [--rounds 3] [--json]

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { processCpuMs } from './lib/proc-cpu.ts';
import {
  benchConfig,
  commandLine,
  intFlag,
  machine,
  machineLine,
  round,
  sleep,
  startBenchRewind,
  summarize,
} from './lib/rewind-cycle.ts';

const args = process.argv.slice(2);
const seconds = intFlag(args, 'seconds', 10);
const rounds = intFlag(args, 'rounds', 3);
const json = args.includes('--json');
const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);

const atStart = machine();
const probes = 'health: { path: /healthz, interval: 100ms';
const h = await startBenchRewind((port) => {
  const config = benchConfig(port);
  if (!config.includes(probes)) throw new Error(`the harness config no longer has "${probes}"`);
  return config.replace(probes, 'health: { path: /healthz, interval: 1s');
});
let code = 0;
try {
  for (const deadline = Date.now() + 30_000; ; ) {
    const s = (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop`)).json()) as { activeRollout: unknown };
    if (s.activeRollout === null) break;
    if (Date.now() > deadline) throw new Error('the shop did not become idle');
    await sleep(100);
  }
  await sleep(2000);
  const server = h.server.pid!;
  const agent = Number(readFileSync(join(h.dir, 'data', 'agent.pid'), 'utf8'));
  const perS = { server: [] as number[], agent: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    const s0 = processCpuMs(server);
    const a0 = processCpuMs(agent);
    await sleep(seconds * 1000);
    const s = (performance.now() - t0) / 1000;
    perS.server.push((processCpuMs(server) - s0) / s);
    perS.agent.push((processCpuMs(agent) - a0) / s);
    log(
      `  round ${i + 1}: server ${perS.server.at(-1)!.toFixed(1)} ms/s, agent ${perS.agent.at(-1)!.toFixed(1)} ms/s`,
    );
  }
  const out = {
    command: commandLine(),
    node: process.version,
    machine: { cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: machine().loadavg },
    seconds,
    rounds,
    serverCpuMsPerS: {
      median: round(summarize(perS.server).median, 1),
      max: round(summarize(perS.server).max, 1),
    },
    agentCpuMsPerS: {
      median: round(summarize(perS.agent).median, 1),
      max: round(summarize(perS.agent).max, 1),
    },
  };
  if (json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  else {
    log('');
    log(`command: ${out.command}`);
    log(`${machineLine(out.machine)}; node ${process.version}`);
    log(
      `idle CPU, ms per second (1000 = one core), median of ${rounds} x ${seconds} s: server ${out.serverCpuMsPerS.median} (max ${out.serverCpuMsPerS.max}), agent ${out.agentCpuMsPerS.median} (max ${out.agentCpuMsPerS.max})`,
    );
  }
} catch (err) {
  console.error(err);
  code = 2;
} finally {
  await h.closeOnce();
}
process.exit(code);
