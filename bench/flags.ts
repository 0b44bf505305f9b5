// Feature-flag benchmark, three parts side by side in one run:
//  1. In-process evaluations per second on a 20-flag set (10 static, 10 targeted: fractional splits,
//     sem_ver, starts_with/ends_with, $ref, in, nested if) over 8 contexts: Rewind's evaluator
//     (createFlagEvaluator) vs @openfeature/flagd-core's FlagdCore called directly.
//  2. OFREP over real HTTP: a real `rewind server` (the e2e harness) with the flag set loaded through
//     the API, asked on its OFREP port (the worker thread, ADR 0004) with the app's flag token, and a minimal node:http server calling flagd-core directly (the "peer" floor, its own
//     process), each under the same open-loop load: request k is scheduled at start + k/rate and its
//     latency runs from that scheduled time, so a stalled server (or a late timer) shows up as latency
//     instead of as fewer requests (no coordinated omission). The load runs in this process over
//     keep-alive sockets; both servers are child processes with their own event loops.
//     Then the same with h2load (Debian's nghttp2-client, a C generator on libev) when it is
//     installed: 4 keep-alive connections, each paced at rate/4, latency from each request's send;
//     its own scheduling adds far less to the tail than a Node generator on the same two cores.
//  3. Propagation: pollers ask OFREP for one flag every ~1 ms; from the moment the disable (kill
//     switch) or enable API call is issued to the first OFREP response that reflects it.
//
//   node bench/flags.ts [--rate 2000] [--duration 10] [--warmup 1] [--http-rounds 2] [--prime 6]
//                       [--pacer timer|precise] [--cycles 20] [--eval-ms 200] [--rounds 5]
//                       [--health-interval 1s] [--json]
//
// --duration is the measured load per server and kind (single, bulk), run in --http-rounds stretches
// that alternate between the two servers, each after --warmup seconds of unrecorded load; before
// any of it each server gets --prime seconds of unrecorded load (its JIT warm, the sockets open).
// --pacer: see openLoop. --health-interval: the shop's health probes, which run on the server's
// event loop next to OFREP (the harness probes every 100 ms for fast tests; 1s is the default of a
// real config). --eval-ms and --rounds size part 1. Everything it starts is stopped on exit.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { EvaluationContext as FlagdContext, Logger } from '@openfeature/core';
import { FlagdCore, MemoryStorage } from '@openfeature/flagd-core';
import { OfrepTokens } from '../src/features/auth/ofrep-tokens.ts';
import { createFlagEvaluator } from '../src/features/flags/flag-evaluator.ts';
import { parseFlagSet } from '../src/features/flags/flag-set.ts';
import { ofrepEvaluateBulk, ofrepEvaluateSingle } from '../src/features/flags/ofrep.ts';
import { h2loadAvailable, h2loadPost } from './lib/h2load.ts';
import {
  ALL_KEYS,
  APP,
  CONTEXTS,
  DOCUMENT,
  KILL_FLAG,
  OFREP_PATH,
  startOfrepPeer,
} from './lib/ofrep-flag-set.ts';
import { processCpuMs } from './lib/proc-cpu.ts';
import {
  benchConfig,
  commandLine,
  intFlag,
  machine,
  machineLine,
  nowMs,
  round,
  type Summary,
  sleep,
  startBenchRewind,
  summarize,
  table,
} from './lib/rewind-cycle.ts';

const OFREP_P99_TARGET_MS = 2;
const PROPAGATION_TARGET_MS = 100;
const silent: Logger = { error() {}, warn() {}, info() {}, debug() {} };
const isTargeted = (key: string) => 'targeting' in (DOCUMENT.flags as Record<string, object>)[key]!;
const STATIC_KEYS = ALL_KEYS.filter((k) => !isTargeted(k));
const TARGETED_KEYS = ALL_KEYS.filter(isTargeted);

type ValueType = 'boolean' | 'string' | 'number' | 'object';
function flagTypes(doc: typeof DOCUMENT): Map<string, ValueType> {
  const types = new Map<string, ValueType>();
  for (const [key, f] of Object.entries(doc.flags) as [
    string,
    { variants: object; defaultVariant: string },
  ][]) {
    types.set(key, typeof (f.variants as Record<string, unknown>)[f.defaultVariant] as ValueType);
  }
  return types;
}
const DEFAULTS: Record<ValueType, unknown> = { boolean: false, string: '', number: 0, object: {} };

// ---------- peer server (a child process): OFREP on node:http, answered by flagd-core directly ----------

function runPeerServer(): void {
  const core = new FlagdCore(new MemoryStorage(silent), silent);
  core.setConfigurations(JSON.stringify(DOCUMENT));
  const types = flagTypes(DOCUMENT);
  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      let context: FlagdContext = {};
      try {
        context = raw === '' ? {} : ((JSON.parse(raw) as { context?: FlagdContext }).context ?? {});
      } catch (err) {
        return send(res, 400, { errorCode: 'PARSE_ERROR', errorDetails: (err as Error).message });
      }
      const url = req.url ?? '';
      if (req.method === 'POST' && url === OFREP_PATH) {
        const flags = core.resolveAll(context, silent).map((r) => ({
          key: r.flagKey,
          value: r.value,
          reason: r.reason,
          variant: r.variant,
          metadata: r.flagMetadata,
        }));
        return send(res, 200, { flags, metadata: core.getFlagSetMetadata() });
      }
      if (req.method === 'POST' && url.startsWith(`${OFREP_PATH}/`)) {
        const key = url.slice(OFREP_PATH.length + 1);
        const type = types.get(key);
        if (!type) return send(res, 404, { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: 'no such flag' });
        const r = core.resolve(type, key, DEFAULTS[type] as never, context, silent);
        // OFREP's codeDefaultFlag (ADR-0006), as flagd and Rewind answer a disabled flag.
        if (r.reason === 'DISABLED')
          return send(res, 200, { key, reason: 'DISABLED', metadata: r.flagMetadata });
        if (r.errorCode) return send(res, 400, { key, errorCode: r.errorCode, errorDetails: r.errorMessage });
        return send(res, 200, {
          key,
          value: r.value,
          reason: r.reason,
          variant: r.variant,
          metadata: r.flagMetadata,
        });
      }
      send(res, 404, { errorCode: 'GENERAL', errorDetails: 'no route' });
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    console.log(`ready ${(server.address() as { port: number }).port}`);
  });
  process.on('SIGTERM', () => process.exit(0));
}

// ---------- 1. in-process evaluations per second ----------

interface Call {
  readonly key: string;
  readonly type: ValueType;
  readonly context: Record<string, unknown>;
}

/** Evaluations per second of `fn` over `calls` (round-robin), for `ms` milliseconds. */
function rate(
  calls: readonly Call[],
  fn: (c: Call) => number,
  ms: number,
): { perSecond: number; sink: number } {
  let n = 0;
  let sink = 0;
  const start = performance.now();
  let now = start;
  do {
    for (let j = 0; j < 500; j++) {
      sink += fn(calls[n % calls.length]!);
      n++;
    }
    now = performance.now();
  } while (now - start < ms);
  return { perSecond: (n * 1000) / (now - start), sink };
}

interface EvalRow {
  readonly name: string;
  readonly unit: string;
  readonly rewind: number;
  readonly flagd: number | null;
}

function inProcess(evalMs: number, rounds: number): EvalRow[] {
  const set = parseFlagSet(DOCUMENT);
  const rewind = createFlagEvaluator(set);
  const core = new FlagdCore(new MemoryStorage(silent), silent);
  core.setConfigurations(JSON.stringify(DOCUMENT));
  const types = flagTypes(DOCUMENT);
  const calls = (keys: string[]): Call[] =>
    CONTEXTS.flatMap((context) => keys.map((key) => ({ key, type: types.get(key)!, context })));
  const staticCalls = calls(STATIC_KEYS);
  const targetedCalls = calls(TARGETED_KEYS);
  const contextCalls = CONTEXTS.map((context) => ({ key: '', type: 'object' as const, context }));

  const viaRewind = (c: Call) => (rewind.evaluate(c.key, c.context).reason === 'TARGETING_MATCH' ? 1 : 0);
  const viaFlagd = (c: Call) => {
    const ctx = c.context as FlagdContext;
    const r =
      c.type === 'boolean'
        ? core.resolveBooleanEvaluation(c.key, false, ctx, silent)
        : c.type === 'string'
          ? core.resolveStringEvaluation(c.key, '', ctx, silent)
          : c.type === 'number'
            ? core.resolveNumberEvaluation(c.key, 0, ctx, silent)
            : core.resolveObjectEvaluation(c.key, {}, ctx, silent);
    return r.reason === 'TARGETING_MATCH' ? 1 : 0;
  };
  // Sanity: both engines give the same variant for every (flag, context).
  for (const c of [...staticCalls, ...targetedCalls]) {
    const a = rewind.evaluate(c.key, c.context);
    const b = core.resolve(c.type, c.key, DEFAULTS[c.type] as never, c.context as FlagdContext, silent);
    if (!('variant' in a) || a.variant !== b.variant)
      throw new Error(`engines disagree on ${c.key} for ${JSON.stringify(c.context)}`);
  }

  const cases: {
    name: string;
    unit: string;
    calls: Call[];
    rewind: (c: Call) => number;
    flagd?: (c: Call) => number;
  }[] = [
    { name: 'static flag', unit: 'evals/s', calls: staticCalls, rewind: viaRewind, flagd: viaFlagd },
    { name: 'targeted flag', unit: 'evals/s', calls: targetedCalls, rewind: viaRewind, flagd: viaFlagd },
    {
      name: 'all 20 flags (bulk)',
      unit: 'sets/s',
      calls: contextCalls,
      rewind: (c) => rewind.evaluateAll(c.context).length,
      flagd: (c) => core.resolveAll(c.context as FlagdContext, silent).length,
    },
    {
      name: 'ofrepEvaluateSingle, targeted (no HTTP)',
      unit: 'evals/s',
      calls: targetedCalls,
      rewind: (c) => ofrepEvaluateSingle(rewind, c.key, { context: c.context }).status,
    },
    {
      name: 'ofrepEvaluateBulk (no HTTP; ETag hash)',
      unit: 'sets/s',
      calls: contextCalls,
      rewind: (c) => ofrepEvaluateBulk(rewind, 1, { context: c.context }).status,
    },
  ];
  // Warm up every path, then interleave rounds and keep the median of each.
  for (const c of cases) {
    rate(c.calls, c.rewind, 100);
    if (c.flagd) rate(c.calls, c.flagd, 100);
  }
  const seen = cases.map(() => ({ rewind: [] as number[], flagd: [] as number[] }));
  for (let r = 0; r < rounds; r++) {
    cases.forEach((c, i) => {
      seen[i]!.rewind.push(rate(c.calls, c.rewind, evalMs).perSecond);
      if (c.flagd) seen[i]!.flagd.push(rate(c.calls, c.flagd, evalMs).perSecond);
    });
  }
  return cases.map((c, i) => ({
    name: c.name,
    unit: c.unit,
    rewind: summarize(seen[i]!.rewind).median,
    flagd: c.flagd ? summarize(seen[i]!.flagd).median : null,
  }));
}

// ---------- HTTP helpers ----------

interface Target {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  /** The load's keep-alive sockets to this server, kept across the run as an OFREP client keeps them. */
  readonly agent: http.Agent;
}

interface Reply {
  readonly status: number;
  readonly body: string;
  readonly error: string | null;
}

/** The admin token of the bench's rewind server (the peer ignores it). */
let bearer = '';
/** The OFREP worker's port and the app's flag token, which the worker checks off the API's loop. */
const ofrepAuth = { port: 0, token: '' };

function post(agent: http.Agent, port: number, path: string, body: string, method = 'POST'): Promise<Reply> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (status: number, text: string, error: string | null) => {
      if (settled) return;
      settled = true;
      resolve({ status, body: text, error });
    };
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(bearer && { authorization: `Bearer ${port === ofrepAuth.port ? ofrepAuth.token : bearer}` }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => done(res.statusCode ?? 0, text, null));
        res.on('error', (err) => done(res.statusCode ?? 0, text, err.message));
        res.on('aborted', () => done(res.statusCode ?? 0, text, 'response aborted'));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timed out after 10s')));
    req.on('error', (err: Error & { code?: string }) => done(0, '', err.code ?? err.message));
    req.end(body);
  });
}

// ---------- 2. open-loop OFREP load ----------

interface LoadResult {
  readonly target: string;
  readonly kind: 'single' | 'bulk';
  readonly requests: number;
  readonly ok: number;
  readonly errors: number;
  readonly errorSamples: string[];
  /** From the scheduled send time to the end of the response. */
  readonly latency: Summary;
  /** From the actual send (http.request) to the end of the response. */
  readonly service: Summary;
  /** How late the generator sent: actual send - scheduled send. */
  readonly lag: Summary;
  readonly achievedRps: number;
  /** Server CPU per second of load (1000 = one full core). */
  readonly serverCpuMsPerS: number;
  /** p99 (from the scheduled send) of each stretch, in run order. */
  readonly stretchP99s: number[];
}

/** The h2load runs of one server and kind, merged. */
interface CLoad {
  readonly target: string;
  readonly kind: 'single' | 'bulk';
  readonly requests: number;
  readonly errors: number;
  /** From each request's send to the end of its response. */
  readonly latency: Summary;
  readonly p999: number;
  readonly achievedRps: number;
  readonly stretchP99s: number[];
}

const quantile = (values: readonly number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : 0;
};

/** One stretch of load on one server (the run alternates servers in `--http-rounds` stretches). */
interface RawLoad {
  readonly latencies: number[];
  readonly service: number[];
  readonly lags: number[];
  readonly ok: number;
  readonly errors: number;
  readonly errorSamples: string[];
  readonly sent: number;
  readonly seconds: number;
  readonly cpuMs: number;
}

function mergeLoads(target: string, kind: 'single' | 'bulk', parts: readonly RawLoad[]): LoadResult {
  const all = (f: (r: RawLoad) => number[]) => parts.flatMap(f);
  const sum = (f: (r: RawLoad) => number) => parts.reduce((a, r) => a + f(r), 0);
  const seconds = sum((r) => r.seconds);
  return {
    target,
    kind,
    requests: sum((r) => r.latencies.length),
    ok: sum((r) => r.ok),
    errors: sum((r) => r.errors),
    errorSamples: parts.flatMap((r) => r.errorSamples).slice(0, 5),
    latency: summarize(all((r) => r.latencies)),
    service: summarize(all((r) => r.service)),
    lag: summarize(all((r) => r.lags)),
    achievedRps: sum((r) => r.sent) / seconds,
    serverCpuMsPerS: sum((r) => r.cpuMs) / seconds,
    stretchP99s: parts.map((r) => round(summarize(r.latencies).p99, 2)),
  };
}

const SLEEPER = new Int32Array(new SharedArrayBuffer(4));
const PRECISE_SLEEP_MS = 0.1;

async function openLoop(
  target: Target,
  kind: 'single' | 'bulk',
  rps: number,
  seconds: number,
  warmupS: number,
  pacer: 'timer' | 'precise',
): Promise<RawLoad> {
  const agent = target.agent;
  const bodies = CONTEXTS.map((context) => JSON.stringify({ context }));
  const latencies: number[] = [];
  const service: number[] = [];
  const lags: number[] = [];
  const errorSamples: string[] = [];
  let ok = 0;
  let errors = 0;
  const total = Math.round((warmupS + seconds) * rps);
  const warmupCount = Math.round(warmupS * rps);
  const pending = new Set<Promise<void>>();
  let sent = 0;
  let cpuAtStart = Number.NaN;
  let measureStart = 0;
  const start = nowMs() + 5;
  await new Promise<void>((resolve) => {
    // Request k is due at start + k/rps and its latency counts from then. The pacer that sends it:
    // "timer", a 1 ms setInterval, so due times are whole milliseconds (at 2,000/s two requests at
    // every millisecond; spreading them within it would only add the timer's phase to every
    // latency); "precise", sub-millisecond sleeps (Atomics.wait, at most PRECISE_SLEEP_MS) between
    // event-loop turns, so requests leave evenly spaced, at the price of answers waiting up to that
    // sleep before they are read.
    const dueAt =
      pacer === 'timer'
        ? (k: number) => start + Math.floor((k * 1000) / rps)
        : (k: number) => start + (k * 1000) / rps;
    const sendDue = () => {
      const now = nowMs();
      while (sent < total && dueAt(sent) <= now) {
        const k = sent++;
        if (k === warmupCount) {
          cpuAtStart = processCpuMs(target.pid);
          measureStart = nowMs();
        }
        const scheduled = dueAt(k);
        const body = bodies[Math.floor(k / ALL_KEYS.length) % bodies.length]!;
        const path = kind === 'bulk' ? OFREP_PATH : `${OFREP_PATH}/${ALL_KEYS[k % ALL_KEYS.length]}`;
        const sentAt = nowMs();
        const p = post(agent, target.port, path, body).then((r) => {
          if (k < warmupCount) return;
          const doneAt = nowMs();
          latencies.push(doneAt - scheduled);
          service.push(doneAt - sentAt);
          lags.push(sentAt - scheduled);
          if (r.error === null && r.status === 200) ok++;
          else {
            errors++;
            if (errorSamples.length < 5) errorSamples.push(`${r.status} ${r.error ?? r.body.slice(0, 120)}`);
          }
        });
        pending.add(p);
        void p.finally(() => pending.delete(p));
      }
      return sent >= total;
    };
    if (pacer === 'timer') {
      const timer = setInterval(() => {
        if (sendDue()) {
          clearInterval(timer);
          resolve();
        }
      }, 1);
    } else {
      const step = () => {
        if (sendDue()) return resolve();
        const wait = dueAt(sent) - nowMs();
        if (wait > 2) {
          setTimeout(step, wait - 1.5);
          return;
        }
        if (wait > 0) Atomics.wait(SLEEPER, 0, 0, Math.min(wait, PRECISE_SLEEP_MS));
        setImmediate(step);
      };
      step();
    }
  });
  const endSend = nowMs();
  const cpuAtEnd = processCpuMs(target.pid);
  await Promise.all([...pending]);
  return {
    latencies,
    service,
    lags,
    ok,
    errors,
    errorSamples,
    sent: total - warmupCount,
    seconds: (endSend - measureStart) / 1000,
    cpuMs: cpuAtEnd - cpuAtStart,
  };
}

/** Same request to both servers: value and variant must match for every flag and context. */
async function compareAnswers(
  rewind: Target,
  peer: Target,
): Promise<{ same: number; total: number; diffs: string[] }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let same = 0;
  let total = 0;
  const diffs: string[] = [];
  const pick = (text: string) => {
    const b = JSON.parse(text) as { value?: unknown; variant?: unknown };
    return JSON.stringify([b.value, b.variant]);
  };
  for (const context of CONTEXTS) {
    const body = JSON.stringify({ context });
    for (const key of ALL_KEYS) {
      const [a, b] = await Promise.all([
        post(agent, rewind.port, `${OFREP_PATH}/${key}`, body),
        post(agent, peer.port, `${OFREP_PATH}/${key}`, body),
      ]);
      total++;
      if (a.status === 200 && b.status === 200 && pick(a.body) === pick(b.body)) same++;
      else if (diffs.length < 5)
        diffs.push(`${key} ${body}: rewind ${a.status} ${a.body} / peer ${b.status} ${b.body}`);
    }
    const [a, b] = await Promise.all([
      post(agent, rewind.port, OFREP_PATH, body),
      post(agent, peer.port, OFREP_PATH, body),
    ]);
    const flags = (t: string) =>
      JSON.stringify(
        ((JSON.parse(t) as { flags: { key: string; value: unknown; variant: unknown }[] }).flags ?? [])
          .map((f) => [f.key, f.value, f.variant])
          .sort(),
      );
    total++;
    if (a.status === 200 && b.status === 200 && flags(a.body) === flags(b.body)) same++;
    else if (diffs.length < 5) diffs.push(`bulk ${body}: rewind ${a.status} / peer ${b.status}`);
  }
  agent.destroy();
  return { same, total, diffs };
}

// ---------- 3. propagation ----------

interface PollSample {
  readonly sentAt: number;
  readonly doneAt: number;
  readonly disabled: boolean;
  readonly ok: boolean;
}

interface Change {
  readonly action: 'disable' | 'enable';
  /** Issued -> first OFREP response reflecting the change (ms). */
  readonly propagationMs: number;
  /** Issued -> send time of the first poll whose answer reflected the change. */
  readonly firstReflectingSendMs: number;
  readonly apiMs: number;
  /** Polls sent after the first reflecting answer arrived that still got the old answer (must be 0). */
  readonly staleAfter: number;
}

async function propagation(
  apiPort: number,
  port: number,
  cycles: number,
  pollers: number,
): Promise<{ changes: Change[]; polls: number; pollGap: Summary; pollErrors: number }> {
  const pollAgent = new http.Agent({ keepAlive: true, maxSockets: pollers });
  const apiAgent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  const body = JSON.stringify({ context: CONTEXTS[0] });
  let samples: PollSample[] = [];
  let polls = 0;
  let pollErrors = 0;
  let running = true;
  const sends: number[] = [];
  const loop = async (offset: number) => {
    await sleep(offset);
    while (running) {
      const sentAt = nowMs();
      sends.push(sentAt);
      const r = await post(pollAgent, port, `${OFREP_PATH}/${KILL_FLAG}`, body);
      polls++;
      const ok = r.error === null && r.status === 200;
      const disabled = ok && r.body.includes('"reason":"DISABLED"');
      if (!ok) pollErrors++;
      samples.push({ sentAt, doneAt: nowMs(), disabled, ok });
      await sleep(1);
    }
  };
  const loops = Array.from({ length: pollers }, (_, i) => loop(i * 0.5));
  const changes: Change[] = [];
  try {
    await sleep(100);
    for (let i = 0; i < cycles * 2; i++) {
      const action = i % 2 === 0 ? 'disable' : 'enable';
      const want = action === 'disable';
      samples = [];
      const t0 = nowMs();
      const r = await post(
        apiAgent,
        apiPort,
        `/api/v1/apps/${APP}/flags/${KILL_FLAG}/${action}`,
        JSON.stringify({ reason: `bench flags cycle ${i >> 1}` }),
      );
      const apiMs = nowMs() - t0;
      if (r.status !== 200) throw new Error(`${action} -> ${r.status} ${r.body}`);
      const deadline = nowMs() + 5_000;
      while (!samples.some((s) => s.ok && s.disabled === want && s.sentAt >= t0)) {
        if (nowMs() > deadline) throw new Error(`${action}: no OFREP answer reflected it within 5 s`);
        await sleep(2);
      }
      await sleep(30);
      const after = samples.filter((s) => s.ok && s.doneAt >= t0).sort((a, b) => a.doneAt - b.doneAt);
      const first = after.find((s) => s.disabled === want)!;
      changes.push({
        action,
        propagationMs: first.doneAt - t0,
        firstReflectingSendMs: first.sentAt - t0,
        apiMs,
        staleAfter: after.filter((s) => s.sentAt > first.doneAt && s.disabled !== want).length,
      });
      await sleep(20);
    }
  } finally {
    running = false;
    await Promise.all(loops);
    pollAgent.destroy();
    apiAgent.destroy();
  }
  const sorted = sends.sort((a, b) => a - b);
  const gaps = sorted.slice(1).map((t, i) => t - sorted[i]!);
  return { changes, polls, pollGap: summarize(gaps), pollErrors };
}

// ---------- main ----------

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const rps = intFlag(args, 'rate', 2000);
  const duration = intFlag(args, 'duration', 10);
  const warmup = intFlag(args, 'warmup', 1, true);
  const cycles = intFlag(args, 'cycles', 20);
  const evalMs = intFlag(args, 'eval-ms', 200);
  const rounds = intFlag(args, 'rounds', 5);
  const httpRounds = intFlag(args, 'http-rounds', 2);
  const prime = intFlag(args, 'prime', 6, true);
  const hi = args.indexOf('--health-interval');
  const healthInterval = hi >= 0 ? (args[hi + 1] ?? '1s') : '1s';
  const pi = args.indexOf('--pacer');
  const pacerArg = pi >= 0 ? args[pi + 1] : args.find((a) => a.startsWith('--pacer='))?.slice(8);
  if (pacerArg !== undefined && pacerArg !== 'timer' && pacerArg !== 'precise')
    throw new Error(`--pacer is timer or precise, got "${pacerArg}"`);
  const pacer: 'timer' | 'precise' = pacerArg ?? 'timer';
  const json = args.includes('--json');
  const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);
  const atStart = machine();
  const startedAt = nowMs();

  log(
    `1/3 in-process: ${ALL_KEYS.length} flags (${STATIC_KEYS.length} static, ${TARGETED_KEYS.length} targeted), ${CONTEXTS.length} contexts, ${rounds} rounds of ${evalMs} ms`,
  );
  const evals = inProcess(evalMs, rounds);

  log('starting rewind server and the flagd-core peer server...');
  // The harness's shop probes its instances every 100 ms (for fast tests); a real config keeps the
  // default 1s unless told otherwise. The probes run on the server's event loop, next to OFREP.
  const h = await startBenchRewind((port) => {
    const config = benchConfig(port);
    const probes = 'health: { path: /healthz, interval: 100ms';
    if (!config.includes(probes)) throw new Error(`the harness config no longer has "${probes}"`);
    return config.replace(probes, `health: { path: /healthz, interval: ${healthInterval}`);
  });
  bearer = h.token;
  const peer = await startOfrepPeer();
  const apiAgent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  const targets: Target[] = [];
  try {
    const apiPort = Number(new URL(h.apiUrl).port);
    // The initial deploy of the shop: let it finish so it does not run during the load.
    for (const deadline = Date.now() + 30_000; ; ) {
      const s = await post(apiAgent, apiPort, `/api/v1/apps/${APP}`, '', 'GET');
      if (s.status === 200 && (JSON.parse(s.body) as { activeRollout: unknown }).activeRollout === null)
        break;
      if (Date.now() > deadline) throw new Error('the shop did not become idle');
      await sleep(100);
    }
    const put = await post(
      apiAgent,
      apiPort,
      `/api/v1/apps/${APP}/flags`,
      JSON.stringify({ document: DOCUMENT, reason: 'bench/flags.ts' }),
      'PUT',
    );
    if (put.status !== 200) throw new Error(`PUT flags -> ${put.status} ${put.body}`);
    const loadAgent = () => new http.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64 });
    // OFREP's own listener, in the server's worker thread (ADR 0004), with the app's flag token.
    ofrepAuth.port = Number(new URL(h.ofrepUrl).port);
    ofrepAuth.token = OfrepTokens.forDataDir(h.dataDir).tokenFor(APP);
    const rewind: Target = {
      name: 'Rewind (rewind server, OFREP worker)',
      port: ofrepAuth.port,
      pid: h.server.pid!,
      agent: loadAgent(),
    };
    const floor: Target = {
      name: 'peer (node:http + flagd-core)',
      port: peer.port,
      pid: peer.child.pid!,
      agent: loadAgent(),
    };
    targets.push(rewind, floor);
    const answers = await compareAnswers(rewind, floor);
    log(
      `same answers from both servers: ${answers.same}/${answers.total}${answers.diffs.length ? `\n  ${answers.diffs.join('\n  ')}` : ''}`,
    );
    // What each server burns with no requests at all (Rewind's controller reconciles every 100 ms).
    const idle0 = [processCpuMs(rewind.pid), processCpuMs(floor.pid), nowMs()] as const;
    await sleep(2000);
    const idleS = (nowMs() - idle0[2]) / 1000;
    const idleCpu = {
      rewind: (processCpuMs(rewind.pid) - idle0[0]) / idleS,
      peer: (processCpuMs(floor.pid) - idle0[1]) / idleS,
    };

    log(
      `2/3 OFREP open loop: ${rps} requests/s for ${duration} s per server and kind, in ${httpRounds} alternating stretches (each after ${warmup} s warm-up)`,
    );
    // Unrecorded load first: a freshly started server is still compiling its request path (and the
    // load still opening its sockets); the first seconds after start have p99s several times higher.
    if (prime > 0) {
      log(`  priming each server with ${prime} s of unrecorded load (single, then bulk)`);
      for (const target of [rewind, floor]) {
        await openLoop(target, 'single', rps, 0, prime / 2, pacer);
        await openLoop(target, 'bulk', rps, 0, prime / 2, pacer);
      }
    }
    const loads: LoadResult[] = [];
    const stretch = duration / httpRounds;
    for (const kind of ['single', 'bulk'] as const) {
      const parts = new Map<Target, RawLoad[]>([
        [rewind, []],
        [floor, []],
      ]);
      for (let i = 0; i < httpRounds; i++) {
        // Alternate which server goes first, so that neither always gets the same moment.
        for (const target of i % 2 === 0 ? [rewind, floor] : [floor, rewind]) {
          const r = await openLoop(target, kind, rps, stretch, warmup, pacer);
          parts.get(target)!.push(r);
          const s = summarize(r.latencies);
          log(
            `  ${kind.padEnd(6)} ${target.name}: p50 ${s.median.toFixed(2)} p99 ${s.p99.toFixed(2)} max ${s.max.toFixed(1)} ms, ${r.errors} errors`,
          );
          await sleep(200);
        }
      }
      for (const [target, p] of parts) loads.push(mergeLoads(target.name, kind, p));
    }

    // The same load from h2load, a C client: one context, the 20 flags round robin (single).
    const cLoads: CLoad[] = [];
    if (h2loadAvailable()) {
      log(
        `  h2load (C client): ${rps} requests/s from 4 connections, ${duration} s per server and kind in ${httpRounds} alternating stretches, after ${prime / 2} s unrecorded`,
      );
      const body = JSON.stringify({ context: CONTEXTS[0] });
      const urls = (t: Target, kind: 'single' | 'bulk') =>
        kind === 'bulk'
          ? [`http://127.0.0.1:${t.port}${OFREP_PATH}`]
          : ALL_KEYS.map((k) => `http://127.0.0.1:${t.port}${OFREP_PATH}/${k}`);
      for (const kind of ['single', 'bulk'] as const) {
        if (prime > 0)
          for (const t of [rewind, floor])
            await h2loadPost(urls(t, kind), body, {
              rps,
              seconds: prime / 2,
              headers: { authorization: `Bearer ${ofrepAuth.token}` },
            });
        const parts = new Map<Target, Awaited<ReturnType<typeof h2loadPost>>[]>([
          [rewind, []],
          [floor, []],
        ]);
        for (let i = 0; i < httpRounds; i++) {
          for (const t of i % 2 === 0 ? [rewind, floor] : [floor, rewind]) {
            const r = await h2loadPost(urls(t, kind), body, {
              headers: { authorization: `Bearer ${ofrepAuth.token}` },
              rps,
              seconds: Math.max(1, Math.round(stretch)),
            });
            parts.get(t)!.push(r);
            const s = summarize(r.latencies);
            log(
              `  ${kind.padEnd(6)} ${t.name} (h2load): p50 ${s.median.toFixed(2)} p99 ${s.p99.toFixed(2)} max ${s.max.toFixed(1)} ms, ${r.errors} errors`,
            );
            await sleep(200);
          }
        }
        for (const [t, p] of parts) {
          const lat = p.flatMap((r) => r.latencies);
          cLoads.push({
            target: t.name,
            kind,
            requests: lat.length,
            errors: p.reduce((a, r) => a + r.errors, 0),
            latency: summarize(lat),
            p999: quantile(lat, 0.999),
            achievedRps: p.reduce((a, r) => a + r.achievedRps, 0) / p.length,
            stretchP99s: p.map((r) => round(summarize(r.latencies).p99, 2)),
          });
        }
      }
    } else {
      log('  h2load not installed (apt-get install -y nghttp2-client): the C-client figures are skipped');
    }

    log(`3/3 propagation: ${cycles} x (disable, enable) of ${KILL_FLAG}, 2 pollers every ~1 ms`);
    const prop = await propagation(apiPort, ofrepAuth.port, cycles, 2);
    const propOf = (action: string, f: (c: Change) => number) =>
      summarize(prop.changes.filter((c) => c.action === action).map(f));
    const disable = propOf('disable', (c) => c.propagationMs);
    const enable = propOf('enable', (c) => c.propagationMs);
    const stale = prop.changes.reduce((a, c) => a + c.staleAfter, 0);

    const single = loads.find((l) => l.kind === 'single' && l.target === rewind.name)!;
    const cSingle = cLoads.find((l) => l.kind === 'single' && l.target === rewind.name);
    const out = {
      command: commandLine(),
      node: process.version,
      machine: { cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: machine().loadavg },
      totalSeconds: round((nowMs() - startedAt) / 1000, 1),
      flags: {
        total: ALL_KEYS.length,
        static: STATIC_KEYS.length,
        targeted: TARGETED_KEYS.length,
        contexts: CONTEXTS.length,
      },
      inProcess: evals.map((e) => ({
        ...e,
        rewind: Math.round(e.rewind),
        flagd: e.flagd === null ? null : Math.round(e.flagd),
        ratio: e.flagd === null ? null : round(e.rewind / e.flagd, 2),
      })),
      sameAnswers: answers,
      idleServerCpuMsPerS: { rewind: Math.round(idleCpu.rewind), peer: Math.round(idleCpu.peer) },
      ofrep: {
        rate: rps,
        durationS: duration,
        warmupS: warmup,
        primeS: prime,
        healthInterval,
        pacer,
        httpRounds,
        targetP99Ms: OFREP_P99_TARGET_MS,
        withinTarget: single.latency.p99 < OFREP_P99_TARGET_MS,
        h2load: cSingle
          ? {
              withinTarget: cSingle.latency.p99 < OFREP_P99_TARGET_MS,
              results: cLoads.map((l) => ({
                ...l,
                latency: roundAll(l.latency),
                p999: round(l.p999, 2),
                achievedRps: Math.round(l.achievedRps),
              })),
            }
          : null,
        results: loads.map((l) => ({
          ...l,
          latency: roundAll(l.latency),
          service: roundAll(l.service),
          lag: roundAll(l.lag),
          achievedRps: Math.round(l.achievedRps),
          serverCpuMsPerS: Math.round(l.serverCpuMsPerS),
        })),
      },
      propagation: {
        targetMs: PROPAGATION_TARGET_MS,
        withinTarget: disable.max < PROPAGATION_TARGET_MS,
        disable: roundAll(disable),
        enable: roundAll(enable),
        disableApiRoundTrip: roundAll(propOf('disable', (c) => c.apiMs)),
        enableApiRoundTrip: roundAll(propOf('enable', (c) => c.apiMs)),
        firstReflectingSendDisable: roundAll(propOf('disable', (c) => c.firstReflectingSendMs)),
        pollGap: roundAll(prop.pollGap),
        polls: prop.polls,
        pollErrors: prop.pollErrors,
        staleAnswersAfterChange: stale,
        changes: prop.changes.map((c) => ({
          ...c,
          propagationMs: round(c.propagationMs, 2),
          apiMs: round(c.apiMs, 2),
          firstReflectingSendMs: round(c.firstReflectingSendMs, 2),
        })),
      },
    };
    const errors =
      loads.reduce((a, l) => a + l.errors, 0) + cLoads.reduce((a, l) => a + l.errors, 0) + prop.pollErrors;
    if (json) {
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    } else {
      const n = (v: number) => Math.round(v).toLocaleString('en-US');
      log('');
      log(`command: ${out.command}  (${out.totalSeconds} s)`);
      log(`${machineLine(out.machine)}; node ${process.version}`);
      log('');
      log('in-process evaluation (median of rounds)');
      log(
        table(
          ['case', 'unit', 'Rewind evaluator', 'flagd-core direct', 'Rewind / flagd'],
          out.inProcess.map((e) => [
            e.name,
            e.unit,
            n(e.rewind),
            e.flagd === null ? '-' : n(e.flagd),
            e.ratio === null ? '-' : `${e.ratio}x`,
          ]),
        ),
      );
      log('');
      log(
        `OFREP over HTTP, open loop ${rps} req/s for ${duration} s each (${pacer} pacer); latency in ms from the scheduled send`,
      );
      log(
        table(
          [
            'kind',
            'server',
            'p50',
            'p90',
            'p99',
            'max',
            'p99 from send',
            'errors',
            'req/s',
            'server CPU',
            'gen lag p99',
          ],
          loads.map((l) => [
            l.kind,
            l.target,
            round(l.latency.median, 2),
            round(l.latency.p90, 2),
            round(l.latency.p99, 2),
            round(l.latency.max, 1),
            round(l.service.p99, 2),
            l.errors,
            Math.round(l.achievedRps),
            `${Math.round(l.serverCpuMsPerS / 10)}%`,
            round(l.lag.p99, 2),
          ]),
        ),
      );
      if (cLoads.length) {
        log('');
        log(`OFREP over HTTP from h2load (C), ${rps} req/s from 4 connections; latency in ms from each send`);
        log(
          table(
            ['kind', 'server', 'p50', 'p90', 'p99', 'p99.9', 'max', 'errors', 'req/s', 'p99 per stretch'],
            cLoads.map((l) => [
              l.kind,
              l.target,
              round(l.latency.median, 2),
              round(l.latency.p90, 2),
              round(l.latency.p99, 2),
              round(l.p999, 2),
              round(l.latency.max, 1),
              l.errors,
              Math.round(l.achievedRps),
              l.stretchP99s.join(' / '),
            ]),
          ),
        );
      }
      log(
        `server CPU with no requests: Rewind ${Math.round(idleCpu.rewind / 10)}%, peer ${Math.round(idleCpu.peer / 10)}% (100% = one core)`,
      );
      for (const l of loads)
        if (l.errorSamples.length) log(`  ${l.kind} ${l.target} errors: ${l.errorSamples.join(' | ')}`);
      log('');
      log(
        `propagation, ms from the API call issued to the first OFREP answer reflecting it (${cycles} each)`,
      );
      const p = out.propagation;
      log(
        table(
          ['measure', 'median', 'p90', 'max', 'min'],
          [
            ['disable (kill switch) -> OFREP DISABLED', p.disable],
            ['enable -> OFREP 200', p.enable],
            ['disable API round trip', p.disableApiRoundTrip],
            ['enable API round trip', p.enableApiRoundTrip],
            ['disable: send time of the first DISABLED poll', p.firstReflectingSendDisable],
            ['poll gap (resolution)', p.pollGap],
          ].map(([name, s]) => {
            const v = s as ReturnType<typeof roundAll>;
            return [name as string, v.median, v.p90, v.max, v.min];
          }),
        ),
      );
      log(`${prop.polls} polls, ${prop.pollErrors} failed, ${stale} stale answers after a change was seen`);
      log('');
      log(
        `target: OFREP single p99 < ${OFREP_P99_TARGET_MS} ms at ${rps} req/s -> Node open loop ${round(single.latency.p99, 2)} ms: ${out.ofrep.withinTarget ? 'PASS' : 'over target'}${cSingle ? `; h2load ${round(cSingle.latency.p99, 2)} ms: ${cSingle.latency.p99 < OFREP_P99_TARGET_MS ? 'PASS' : 'over target'}` : ''}`,
      );
      log(
        `target: disable -> OFREP < ${PROPAGATION_TARGET_MS} ms -> median ${p.disable.median}, max ${p.disable.max} ms: ${p.withinTarget ? 'PASS' : 'over target'}`,
      );
    }
    return errors > 0 || stale > 0 || answers.same !== answers.total ? 1 : 0;
  } finally {
    apiAgent.destroy();
    for (const t of targets) t.agent.destroy();
    if (peer.child.exitCode === null) peer.child.kill('SIGTERM');
    await h.closeOnce();
  }
}

function roundAll(s: Summary) {
  return {
    median: round(s.median, 2),
    p90: round(s.p90, 2),
    p99: round(s.p99, 2),
    max: round(s.max, 2),
    min: round(s.min, 2),
  };
}

if (process.argv[2] === '--peer-server') {
  runPeerServer();
} else {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(2);
    },
  );
}
