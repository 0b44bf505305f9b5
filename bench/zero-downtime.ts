// Zero-downtime benchmark: under constant keep-alive load on the app's listener, run N cycles of
// deploy (new version, wait Completed) then rollback (wait Completed), and count every request
// that did not get a 2xx. Exits 1 if any request failed.
//
//   node bench/zero-downtime.ts [--cycles 100] [--connections 16] [--json]
import {
  ApiClient,
  commandLine,
  type EventRecord,
  intFlag,
  LoadRecorder,
  machine,
  machineLine,
  nowMs,
  round,
  sleep,
  startBenchRewind,
  summarize,
  table,
} from './lib/rewind-cycle.ts';

const args = process.argv.slice(2);
const cycles = intFlag(args, 'cycles', 100);
const connections = intFlag(args, 'connections', 16);
const json = args.includes('--json');
const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);

async function main(): Promise<number> {
  const h = await startBenchRewind();
  const api = new ApiClient(h.apiUrl, h.token);
  const load = new LoadRecorder(`${h.appUrl}/products`, connections);
  try {
    const atStart = machine();
    await api.waitIdle();
    const initial = await api.status();
    log(
      `rewind up: api ${h.apiUrl}, app ${h.appUrl}, stable ${initial.stableVersion} (revision ${initial.stableRevision})`,
    );
    log(
      `load: ${connections} keep-alive connections on ${h.appUrl}/products; ${cycles} cycles of deploy + rollback`,
    );
    load.phase = 'warmup';
    load.start();
    await sleep(500);

    const deployMs: number[] = [];
    const rollbackMs: number[] = [];
    const started = nowMs();
    const startRequests = load.requests;
    let lastMark = started;
    let lastMarkRequests = load.requests;
    for (let i = 1; i <= cycles; i++) {
      const version = i % 2 === 1 ? 'v2' : 'v3';
      load.phase = 'deploy';
      let t = nowMs();
      const d = await api.deploy(version);
      await api.waitRollout(d);
      deployMs.push(nowMs() - t);
      load.phase = 'rollback';
      t = nowMs();
      const r = await api.rollback(`bench cycle ${i}`);
      await api.waitRollout(r);
      rollbackMs.push(nowMs() - t);
      load.phase = 'between';
      if (i % 10 === 0 || i === cycles) {
        const now = nowMs();
        const rps = ((load.requests - lastMarkRequests) * 1000) / (now - lastMark);
        log(
          `cycle ${String(i).padStart(4)}/${cycles}  ${round((now - started) / 1000)}s  requests ${load.requests}  failed ${load.failed}  ${Math.round(rps)} req/s`,
        );
        lastMark = now;
        lastMarkRequests = load.requests;
      }
    }
    const cyclesEnd = nowMs();
    const cycleRequests = load.requests - startRequests;
    // Keep the load on while the last replaced revision drains and stops (drainTimeout 2s).
    load.phase = 'settle';
    await sleep(3000);
    await load.stop();

    const failures = load.failures;
    const durationS = (cyclesEnd - started) / 1000;
    const byMessage = new Map<string, number>();
    for (const f of failures) {
      const key = f.error ?? `HTTP ${f.status}`;
      byMessage.set(key, (byMessage.get(key) ?? 0) + 1);
    }
    let context: { failureAt: number; phase: string; error: string; events: string[] }[] = [];
    if (failures.length > 0) {
      // Put the first failures next to what the controller did around them.
      const events = await allAppEvents(api);
      context = failures.slice(0, 5).map((f) => ({
        failureAt: f.sentAt,
        phase: f.phase,
        error: f.error ?? `HTTP ${f.status}`,
        events: events
          .filter((e) => e.at >= f.sentAt - 300 && e.at <= f.doneAt + 300)
          .map((e) => `${round(e.at - f.sentAt, 0)}ms ${e.type}: ${e.message}`),
      }));
    }
    const result = {
      command: commandLine(),
      cycles,
      connections,
      machine: { cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: machine().loadavg },
      durationSeconds: round(durationS, 2),
      requests: load.requests,
      requestsDuringCycles: cycleRequests,
      failedRequests: load.failed,
      requestsPerSecond: Math.round(cycleRequests / durationS),
      phases: Object.fromEntries(load.phases),
      versions: Object.fromEntries(load.versions),
      deployMs: roundSummary(summarize(deployMs)),
      rollbackMs: roundSummary(summarize(rollbackMs)),
      errors: Object.fromEntries(byMessage),
      firstFailures: context,
    };
    if (json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      log('');
      log(`command: ${result.command}`);
      log(machineLine(result.machine));
      log(
        table(
          ['metric', 'value'],
          [
            ['cycles (deploy + rollback)', cycles],
            ['connections', connections],
            ['duration', `${result.durationSeconds} s`],
            ['total requests', result.requests],
            ['requests during cycles', cycleRequests],
            ['failed requests', result.failedRequests],
            ['requests/s', result.requestsPerSecond],
            ['deploy to Completed (median/p90/max)', fmt(result.deployMs)],
            ['rollback to Completed (median/p90/max)', fmt(result.rollbackMs)],
          ],
        ),
      );
      log('');
      log(
        table(
          ['phase', 'requests', 'failed'],
          [...load.phases].map(([phase, c]) => [phase, c.requests, c.failed]),
        ),
      );
      log('');
      log(`versions answered: ${[...load.versions].map(([v, n]) => `${v}=${n}`).join(', ')}`);
      if (failures.length > 0) {
        log('');
        log('errors:');
        for (const [msg, n] of byMessage) log(`  ${n} x ${msg}`);
        log('first failures, with the events around them (ms relative to the request):');
        for (const c of context) {
          log(`  [${c.phase}] ${c.error}`);
          for (const e of c.events) log(`      ${e}`);
        }
      }
    }
    return load.failed > 0 ? 1 : 0;
  } finally {
    api.close();
    await load.stop().catch(() => {});
    await h.closeOnce();
  }
}

async function allAppEvents(api: ApiClient): Promise<EventRecord[]> {
  const out: EventRecord[] = [];
  let after = 0;
  for (;;) {
    const page = await api.get<EventRecord[]>(`/api/v1/apps/shop/events?after=${after}`);
    if (page.length === 0) return out;
    out.push(...page);
    after = page[page.length - 1]!.id;
  }
}

function roundSummary(s: ReturnType<typeof summarize>) {
  return { median: round(s.median), p90: round(s.p90), p99: round(s.p99), max: round(s.max) };
}

function fmt(s: { median: number; p90: number; max: number }): string {
  return `${s.median} / ${s.p90} / ${s.max} ms`;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
