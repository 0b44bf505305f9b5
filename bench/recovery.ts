// Recovery benchmark: under constant keep-alive load on the app's listener, `kill -9` the agent
// (it runs the proxy and the app instances, which die with it) and time, from the kill:
//   - first 200: the first request sent after the kill that gets a 200 again;
//   - 100% 200: the end of the last failed request (every later one succeeds).
// Nothing is done by hand: the server notices, starts a new agent, which listens again with its
// route tables, and the controller starts the stable revision's instances (a cold start).
// Target: 100% 200 within 2 s plus the app's own start time, which is measured beside it (the
// shop app spawned alone, until its port accepts connections). Peer: before the supervision
// (main at 933b1cd), traffic never came back without a manual server restart.
//
//   node bench/recovery.ts [--rounds 5] [--connections 8] [--json]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { freePort, ROOT } from '../test/support/rewind-harness.ts';
import {
  commandLine,
  intFlag,
  LoadRecorder,
  machine,
  machineLine,
  nowMs,
  round,
  type Sample,
  sleep,
  startBenchRewind,
  summarize,
  table,
} from './lib/rewind-cycle.ts';

const args = process.argv.slice(2);
const rounds = intFlag(args, 'rounds', 5);
const connections = intFlag(args, 'connections', 8);
const json = args.includes('--json');
const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);
/** Failure-free time after which a round counts as recovered. */
const SETTLE_MS = 2000;
const TARGET_MS = 2000;

/** The shop app alone: spawn to its port accepting a connection, in ms. */
async function appStartMs(): Promise<number> {
  const port = await freePort();
  const started = nowMs();
  const child = spawn(process.execPath, [join(ROOT, 'examples/shop/server.js')], {
    env: { ...process.env, PORT: String(port), SHOP_VERSION: 'v1' },
    stdio: 'ignore',
  });
  try {
    for (;;) {
      const up = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (up) return nowMs() - started;
      if (child.exitCode !== null) throw new Error(`the shop app exited ${child.exitCode}`);
      if (nowMs() - started > 30_000) throw new Error('the shop app did not listen within 30 s');
      await sleep(2);
    }
  } finally {
    child.kill('SIGKILL');
  }
}

interface Round {
  /** From the server noticing the death to the new agent answering (its log's downMs). */
  readonly agentMs?: number;
  readonly firstOkMs: number;
  readonly allOkMs: number;
  readonly failed: number;
}

function analyse(samples: readonly Sample[], killedAt: number): Round {
  const after = samples.filter((s) => s.sentAt >= killedAt);
  const ok = (s: Sample) => s.error === null && s.status >= 200 && s.status < 300;
  const firstOk = after.filter(ok).reduce((min, s) => Math.min(min, s.doneAt), Number.POSITIVE_INFINITY);
  const failures = samples.filter((s) => s.doneAt >= killedAt && !ok(s));
  const lastFailure = failures.reduce((max, s) => Math.max(max, s.doneAt), killedAt);
  return {
    firstOkMs: firstOk - killedAt,
    allOkMs: Math.max(lastFailure, firstOk) - killedAt,
    failed: failures.length,
  };
}

async function main(): Promise<number> {
  const h = await startBenchRewind();
  const load = new LoadRecorder(`${h.appUrl}/products`, connections);
  load.keepSamples = true;
  try {
    const atStart = machine();
    const appStarts: number[] = [];
    for (let i = 0; i < 5; i++) appStarts.push(await appStartMs());
    const app = summarize(appStarts);
    log(`rewind up: api ${h.apiUrl}, app ${h.appUrl} (2 instances of examples/shop)`);
    log(
      `the app's own start time (spawn -> port accepts), 5 runs: median ${round(app.median)} ms, max ${round(app.max)} ms`,
    );
    log(
      `load: ${connections} keep-alive connections on ${h.appUrl}/products; ${rounds} rounds of kill -9 of the agent`,
    );
    load.start();
    const results: Round[] = [];
    for (let i = 1; i <= rounds; i++) {
      // Steady first: ready, and a stretch without a failure.
      const readyBy = nowMs() + 60_000;
      while (
        !(await fetch(`${h.apiUrl}/readyz`).then(
          (r) => r.ok,
          () => false,
        ))
      ) {
        if (nowMs() > readyBy) throw new Error(`round ${i}: the server is not ready after 60 s`);
        await sleep(50);
      }
      await sleep(500);
      load.takeSamples();
      const pid = Number(readFileSync(join(h.dataDir, 'agent.pid'), 'utf8'));
      const killedAt = nowMs();
      process.kill(pid, 'SIGKILL');
      // Recovered: SETTLE_MS without a failed request, after at least one 200.
      const deadline = killedAt + 60_000;
      let samples: Sample[] = [];
      for (;;) {
        await sleep(100);
        samples = samples.concat(load.takeSamples());
        const r = analyse(samples, killedAt);
        if (Number.isFinite(r.firstOkMs) && nowMs() - (killedAt + r.allOkMs) >= SETTLE_MS) break;
        if (nowMs() > deadline) throw new Error(`round ${i}: no recovery within 60 s`);
      }
      const downMs = [...h.output().matchAll(/agent restarted.*downMs=(\d+)/g)].at(-1)?.[1];
      const r = { ...analyse(samples, killedAt), ...(downMs && { agentMs: Number(downMs) }) };
      results.push(r);
      log(
        `round ${i}: agent pid ${pid} killed; new agent up ${r.agentMs ?? '?'} ms after it was noticed; first 200 after ${round(r.firstOkMs)} ms, 100% 200 after ${round(r.allOkMs)} ms (${r.failed} failed requests)`,
      );
    }
    await load.stop();
    const first = summarize(results.map((r) => r.firstOkMs));
    const all = summarize(results.map((r) => r.allOkMs));
    const agent = summarize(results.flatMap((r) => (r.agentMs === undefined ? [] : [r.agentMs])));
    const budget = TARGET_MS + app.median;
    log('');
    log(
      table(
        [
          'from kill -9 of the agent',
          'median ms',
          'max ms',
          `target (2 s + app start ${round(app.median)} ms)`,
        ],
        [
          ['new agent answers (from the death noticed)', round(agent.median), round(agent.max), ''],
          ['first 200 again', round(first.median), round(first.max), ''],
          [
            '100% 200 again',
            round(all.median),
            round(all.max),
            all.max <= budget ? `met (< ${round(budget)})` : `MISSED (> ${round(budget)})`,
          ],
          ["the app's own start", round(app.median), round(app.max), ''],
        ],
      ),
    );
    log('before this change (main 933b1cd): no recovery at all without a manual server restart');
    log(
      machineLine({ cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: machine().loadavg }),
    );
    log(`command: ${commandLine()}`);
    if (json)
      process.stdout.write(
        `${JSON.stringify({ rounds: results, firstOk: first, allOk: all, appStart: app, targetMs: budget })}\n`,
      );
    return all.max <= budget ? 0 : 1;
  } finally {
    await load.stop().catch(() => {});
    await h.closeOnce();
  }
}

process.exit(await main());
