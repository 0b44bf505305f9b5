// OFREP at a fixed request rate from h2load (a C client, HTTP/1.1, rate mode), three servers side
// by side in one run, each in its own process or thread:
//   - before: a real `rewind server`, OFREP on its API port, answered on the controller's event
//     loop (how main serves it, and how the API port still serves it);
//   - after: the same server's OFREP port (--ofrep-port), answered by its worker thread (ADR 0004);
//   - peer: flagd-core behind a bare node:http server (bench/flags.ts --peer-server), the floor.
// Every server gets the same 20-flag set (bench/lib/ofrep-flag-set.ts) and the same load:
//   1. single (the 20 keys round robin), bulk, and bulk polls with If-None-Match (304s; the peer has
//      no ETag, so no figure), --duration seconds per server and kind in --rounds alternating
//      stretches, after --prime seconds of unrecorded load; p50/p99/max from each request's send.
//   2. Stalls during flag changes: the single load (from 20 connections, so that more requests
//      are in flight through a stall) runs on one Rewind port while --changes flag
//      changes go through the API, one every --change-every ms (PUT of one flag's definition:
//      parse, validate, store write, push to the worker); the worst latency of the requests sent
//      between the first change and the end of the last is the stall an app sees.
//
//   node bench/ofrep.ts [--rate 2000] [--duration 10] [--rounds 2] [--prime 4] [--changes 20]
//                       [--change-every 100] [--json]
import { OfrepTokens } from '../src/features/auth/ofrep-tokens.ts';
import { type H2loadRun, h2loadAvailable, h2loadPost } from './lib/h2load.ts';
import { ALL_KEYS, APP, CONTEXTS, DOCUMENT, OFREP_PATH, startOfrepPeer } from './lib/ofrep-flag-set.ts';
import {
  ApiClient,
  benchConfig,
  commandLine,
  intFlag,
  machine,
  machineLine,
  round,
  type Summary,
  sleep,
  startBenchRewind,
  summarize,
  table,
} from './lib/rewind-cycle.ts';

const TARGET_MS = { single: 1, bulk: 1.5, stall: 5 } as const;
const CHANGED_FLAG = 'page-size';
const STALL_CLIENTS = 20;

type Kind = 'single' | 'bulk' | 'bulk-304';
interface Target {
  readonly id: 'before' | 'after' | 'peer';
  readonly name: string;
  readonly port: number;
}

const short = (s: Summary) => ({ p50: round(s.median, 2), p99: round(s.p99, 2), max: round(s.max, 1) });

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const rps = intFlag(args, 'rate', 2000);
  const duration = intFlag(args, 'duration', 10);
  const rounds = intFlag(args, 'rounds', 2);
  const prime = intFlag(args, 'prime', 4, true);
  const changes = intFlag(args, 'changes', 20);
  const changeEvery = intFlag(args, 'change-every', 100);
  const json = args.includes('--json');
  const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);
  if (!h2loadAvailable()) {
    process.stderr.write('bench/ofrep.ts needs h2load: apt-get install -y nghttp2-client\n');
    return 1;
  }
  const atStart = machine();
  const startedAt = new Date();

  log('starting rewind server and the flagd-core peer server...');
  // Health probes every 1 s, a real config's default (the harness probes every 100 ms).
  const h = await startBenchRewind((port) =>
    benchConfig(port).replace(
      'health: { path: /healthz, interval: 100ms',
      'health: { path: /healthz, interval: 1s',
    ),
  );
  const peer = await startOfrepPeer();
  const api = new ApiClient(h.apiUrl, h.token);
  try {
    await api.waitIdle();
    const put = await api.call('PUT', `/api/v1/apps/${APP}/flags`, {
      document: DOCUMENT,
      reason: 'bench/ofrep.ts',
    });
    if (put.status !== 200) throw new Error(`PUT flags -> ${put.status} ${JSON.stringify(put.body)}`);
    // The app's flag token, as its instances send it: the worker checks it without the main thread.
    const headers = { authorization: `Bearer ${OfrepTokens.forDataDir(h.dataDir).tokenFor(APP)}` };
    const targets: Target[] = [
      { id: 'before', name: 'before: API port (controller loop)', port: Number(new URL(h.apiUrl).port) },
      { id: 'after', name: 'after: OFREP port (worker)', port: Number(new URL(h.ofrepUrl).port) },
      { id: 'peer', name: 'peer: node:http + flagd-core', port: peer.port },
    ];
    const body = JSON.stringify({ context: CONTEXTS[0] });
    const bulkUrl = (t: Target) => `http://127.0.0.1:${t.port}${OFREP_PATH}`;
    const etagRes = await fetch(bulkUrl(targets[1]!), {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body,
    });
    const etag = etagRes.headers.get('etag');
    if (etagRes.status !== 200 || !etag)
      throw new Error(`bulk on the OFREP port -> ${etagRes.status}, no ETag`);
    const run = (t: Target, kind: Kind, seconds: number, clients = 4): Promise<H2loadRun> =>
      h2loadPost(kind === 'single' ? ALL_KEYS.map((k) => `${bulkUrl(t)}/${k}`) : [bulkUrl(t)], body, {
        rps,
        seconds,
        clients,
        headers: kind === 'bulk-304' ? { ...headers, 'if-none-match': etag } : headers,
        okStatuses: kind === 'bulk-304' ? [304] : [200],
      });

    log(
      `1/2 h2load --h1, ${rps} requests/s from 4 connections, ${duration} s per server and kind in ${rounds} alternating stretches, after ${prime} s unrecorded`,
    );
    const results: { kind: Kind; target: Target['id']; summary: Summary; errors: number; rps: number }[] = [];
    for (const kind of ['single', 'bulk', 'bulk-304'] as const) {
      const servers = kind === 'bulk-304' ? targets.filter((t) => t.id !== 'peer') : targets;
      if (prime > 0) for (const t of servers) await run(t, kind, Math.max(1, Math.round(prime / 2)));
      const parts = new Map<Target, H2loadRun[]>(servers.map((t) => [t, []]));
      for (let i = 0; i < rounds; i++) {
        const order = i % 2 === 0 ? servers : [...servers].reverse();
        for (const t of order) {
          const r = await run(t, kind, Math.max(1, Math.round(duration / rounds)));
          parts.get(t)!.push(r);
          const s = summarize(r.latencies);
          log(
            `  ${kind.padEnd(8)} ${t.name}: p50 ${s.median.toFixed(2)} p99 ${s.p99.toFixed(2)} max ${s.max.toFixed(1)} ms, ${r.errors} errors`,
          );
        }
      }
      for (const [t, p] of parts) {
        const latencies = p.flatMap((r) => r.latencies);
        results.push({
          kind,
          target: t.id,
          summary: summarize(latencies),
          errors: p.reduce((a, r) => a + r.errors, 0),
          rps: round(p.reduce((a, r) => a + r.achievedRps, 0) / p.length, 0),
        });
      }
    }

    log(
      `2/2 stalls: single load at ${rps} requests/s from ${STALL_CLIENTS} connections on each Rewind port while ${changes} flag changes go through the API, one every ${changeEvery} ms`,
    );
    const stalls: {
      target: Target['id'];
      during: Summary;
      outside: Summary;
      apiMs: Summary;
      errors: number;
    }[] = [];
    for (const t of targets.filter((x) => x.id !== 'peer')) {
      const lead = 1000;
      const seconds = Math.ceil((lead + changes * changeEvery + 3000) / 1000);
      // 20 connections at 100/s each: a connection waits for its answer before its next request,
      // so more of them keep more requests in flight through a stall (less coordinated omission).
      const load = run(t, 'single', seconds, STALL_CLIENTS);
      await sleep(lead);
      const apiMs: number[] = [];
      const first = Date.now();
      for (let i = 0; i < changes; i++) {
        const at = first + i * changeEvery;
        if (Date.now() < at) await sleep(at - Date.now());
        const t0 = performance.now();
        const definition = {
          ...DOCUMENT.flags[CHANGED_FLAG],
          defaultVariant: i % 2 === 0 ? 'large' : 'small',
        };
        const r = await api.call('PUT', `/api/v1/apps/${APP}/flags/${CHANGED_FLAG}`, {
          definition,
          reason: `bench/ofrep.ts change ${i}`,
        });
        if (r.status !== 200) throw new Error(`PUT flag -> ${r.status} ${JSON.stringify(r.body)}`);
        apiMs.push(performance.now() - t0);
      }
      const last = Date.now();
      const r = await load;
      const during = r.latencies.filter((_, i) => r.startsMs[i]! >= first && r.startsMs[i]! <= last);
      // The baseline: the steady load after the last change (its first second is the generator's
      // and the connections' start, not the server's).
      const outside = r.latencies.filter((_, i) => r.startsMs[i]! > last + 200);
      const s = summarize(during);
      stalls.push({
        target: t.id,
        during: s,
        outside: summarize(outside),
        apiMs: summarize(apiMs),
        errors: r.errors,
      });
      log(
        `  ${t.name}: ${during.length} requests during the changes, p99 ${s.p99.toFixed(2)} max ${s.max.toFixed(1)} ms; API call median ${summarize(apiMs).median.toFixed(1)} ms; ${r.errors} errors`,
      );
    }

    const atEnd = machine();
    const fig = (kind: Kind, id: Target['id']) => results.find((x) => x.kind === kind && x.target === id);
    const out = {
      bench: 'ofrep',
      command: commandLine(),
      date: startedAt.toISOString(),
      machine: { cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: atEnd.loadavg },
      rate: rps,
      results: results.map((x) => ({ ...x, summary: short(x.summary) })),
      stalls: stalls.map((x) => ({
        target: x.target,
        during: short(x.during),
        outside: short(x.outside),
        apiMedianMs: round(x.apiMs.median, 1),
        errors: x.errors,
      })),
      targets: {
        singleP99Ms: TARGET_MS.single,
        bulkP99Ms: TARGET_MS.bulk,
        stallMaxMs: TARGET_MS.stall,
        singleWithin: (fig('single', 'after')?.summary.p99 ?? Number.POSITIVE_INFINITY) < TARGET_MS.single,
        bulkWithin: (fig('bulk', 'after')?.summary.p99 ?? Number.POSITIVE_INFINITY) < TARGET_MS.bulk,
        stallWithin:
          (stalls.find((x) => x.target === 'after')?.during.max ?? Number.POSITIVE_INFINITY) <
          TARGET_MS.stall,
      },
    };
    if (json) {
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return 0;
    }
    const cell = (kind: Kind, id: Target['id']) => {
      const x = fig(kind, id);
      return x
        ? `${x.summary.median.toFixed(2)} / ${x.summary.p99.toFixed(2)} / ${x.summary.max.toFixed(1)}`
        : 'n/a';
    };
    log('');
    log(`OFREP from h2load --h1 at ${rps} requests/s: p50 / p99 / max in ms from each request's send`);
    log(
      table(
        ['kind', ...targets.map((t) => t.name)],
        (['single', 'bulk', 'bulk-304'] as const).map((k) => [k, ...targets.map((t) => cell(k, t.id))]),
      ),
    );
    log('');
    log(`during ${changes} flag changes through the API (one every ${changeEvery} ms), single load: ms`);
    log(
      table(
        ['port', 'p99 during', 'max during', 'p99 after changes', 'max after changes', 'API call median'],
        stalls.map((x) => [
          targets.find((t) => t.id === x.target)!.name,
          x.during.p99.toFixed(2),
          x.during.max.toFixed(1),
          x.outside.p99.toFixed(2),
          x.outside.max.toFixed(1),
          x.apiMs.median.toFixed(1),
        ]),
      ),
    );
    log('');
    const t = out.targets;
    log(
      `targets (after): single p99 < ${TARGET_MS.single} ms ${t.singleWithin ? 'PASS' : 'over target'}; bulk p99 < ${TARGET_MS.bulk} ms ${t.bulkWithin ? 'PASS' : 'over target'}; max during changes < ${TARGET_MS.stall} ms ${t.stallWithin ? 'PASS' : 'over target'}`,
    );
    log(machineLine(out.machine));
    log(`command: ${out.command}`);
    return 0;
  } finally {
    api.close();
    if (peer.child.exitCode === null) peer.child.kill('SIGTERM');
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
