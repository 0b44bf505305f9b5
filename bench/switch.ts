// Switch-time benchmark: how long from sending a rollback to the moment from which every new
// request reaches the other (warm) revision. Concurrent keep-alive probe loops hit the app and
// record each request's send time and the version that answered; each cycle deploys a new
// version (waits Completed, so the previous one is warm), then t0 = just before POST rollback and
//   switch = (send time of the first request after which every request got the target) - t0.
// The same analysis is applied to the deploy's switchTraffic step, measured from its events.
// Beside it, the switch on the proxy's own clock: the moment the last proxy worker had the new
// table (the traffic.switched event's inForceAt, same machine, same epoch clock) minus t0. The
// probes' figure is that plus the wait for the next probe request (the resolution row).
//
//   node bench/switch.ts [--cycles 50] [--probes 4] [--interval-ms 2] [--with-db-flags] [--json]
// --with-db-flags: the app also has a database (SQLite, examples/shop/migrations) and a flag set,
// so that the rollback path carries the database and flag checks a real app has.
// --interval-ms is each probe loop's pause between requests; 0 makes them closed loops that
// saturate a small machine's CPU, and then the controller's own latency is measured under load.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../test/support/rewind-harness.ts';
import {
  ApiClient,
  benchConfig,
  commandLine,
  type EventRecord,
  intFlag,
  LoadRecorder,
  machine,
  machineLine,
  nowMs,
  round,
  roundSummary,
  type Sample,
  type Summary,
  sleep,
  startBenchRewind,
  summarize,
  summaryTable,
} from './lib/rewind-cycle.ts';

// Issue 18's targets for a warm revision with the database and flags configured.
const TARGET = { switchMedianMs: 10, switchP99Ms: 30, apiMedianMs: 50 };
const args = process.argv.slice(2);
const cycles = intFlag(args, 'cycles', 50);
const probes = intFlag(args, 'probes', 4);
const intervalMs = intFlag(args, 'interval-ms', 2, true);
const json = args.includes('--json');
const withDbFlags = args.includes('--with-db-flags');

/** The bench app with a database and (set after start) a flag set. */
const dbFlagsConfig = (appPort: number) =>
  `${benchConfig(appPort)}    database:
      engine: sqlite
      url: shop.db
      migrations: ${join(ROOT, 'examples/shop/migrations')}
`;
const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);

interface SwitchPoint {
  /** Send time of the first request from which on every request got the target (absolute ms). */
  readonly at: number;
  /** Send time of the last request that did not get the target (absolute ms), or null. */
  readonly lastOtherAt: number | null;
  /** Requests sent after `from` that did not get the target. */
  readonly other: number;
  /** Requests sent after `from` that failed (non-2xx or error). */
  readonly failed: number;
  /** Largest gap between consecutive request sends around the switch: the measurement's resolution. */
  readonly resolutionMs: number;
}

/** Where, among requests sent after `from`, traffic went over to `target` for good. */
function switchPoint(samples: readonly Sample[], from: number, target: string): SwitchPoint {
  const after = samples.filter((s) => s.sentAt >= from).sort((a, b) => a.sentAt - b.sentAt);
  if (after.length === 0) throw new Error('no probe request was sent after the switch began');
  const isTarget = (s: Sample) =>
    s.error === null && s.status >= 200 && s.status < 300 && s.version === target;
  let last = -1;
  for (let i = after.length - 1; i >= 0; i--) {
    if (!isTarget(after[i]!)) {
      last = i;
      break;
    }
  }
  const first = after[last + 1];
  if (!first)
    throw new Error(
      `the last probe request sent (at +${round(after[last]!.sentAt - from)}ms) still did not reach ${target}`,
    );
  const prevSend = last >= 0 ? after[last]!.sentAt : from;
  return {
    at: first.sentAt,
    lastOtherAt: last >= 0 ? after[last]!.sentAt : null,
    other: after.filter((s) => !isTarget(s)).length,
    failed: after.filter((s) => s.error !== null || s.status < 200 || s.status >= 300).length,
    resolutionMs: first.sentAt - prevSend,
  };
}

const eventAt = (events: readonly EventRecord[], type: string, message?: RegExp): number | null =>
  events.find((e) => e.type === type && (!message || message.test(e.message)))?.at ?? null;

interface Cycle {
  readonly cycle: number;
  readonly deployed: string;
  readonly rolledBackTo: string;
  /** Rollback: from just before POST to the data-plane switch, as the probes saw it. */
  readonly rollbackSwitchMs: number;
  /** Rollback: from just before POST to the moment the last proxy worker had the table (its clock). */
  readonly rollbackInForceMs: number | null;
  /** Rollback: last request that still reached the old revision, relative to t0 (lower bound). */
  readonly rollbackLastOtherMs: number | null;
  readonly rollbackApiMs: number;
  readonly rollbackOtherRequests: number;
  readonly rollbackStartedEventMs: number | null;
  readonly rollbackSwitchedEventMs: number | null;
  /** Deploy: data-plane switch relative to the switchTraffic step.started event. */
  readonly deploySwitchMs: number | null;
  /** Deploy: data-plane switch relative to the traffic.switched event (written after the routes were applied). */
  readonly deploySwitchVsEventMs: number | null;
  readonly failed: number;
  readonly resolutionMs: number;
  /** The rollback's events, in ms from t0 (for diagnosis). */
  readonly rollbackEvents: string[];
  /** Where the controller spent the time before the switch (traffic.switched event data). */
  readonly stagesMs: Record<string, number>;
}

async function main(): Promise<number> {
  const h = await startBenchRewind(withDbFlags ? dbFlagsConfig : benchConfig);
  const api = new ApiClient(h.apiUrl, h.token);
  if (withDbFlags) {
    await api.waitIdle();
    const document = JSON.parse(readFileSync(join(ROOT, 'examples/shop/flags.json'), 'utf8'));
    const r = await api.call('PUT', '/api/v1/apps/shop/flags', { document, reason: 'bench' });
    if (r.status !== 200) throw new Error(`flags: ${r.status} ${JSON.stringify(r.body)}`);
  }
  const load = new LoadRecorder(`${h.appUrl}/products`, probes);
  try {
    const atStart = machine();
    await api.waitIdle();
    const initial = await api.status();
    log(
      `rewind up: api ${h.apiUrl}, app ${h.appUrl}, stable ${initial.stableVersion} (revision ${initial.stableRevision})`,
    );
    log(
      `${probes} probe loops on ${h.appUrl}/products; ${cycles} cycles of deploy (wait Completed) + rollback to the warm revision${withDbFlags ? '; the app has a database and a flag set' : ''}`,
    );
    load.keepSamples = true;
    load.intervalMs = intervalMs;
    load.start();
    await sleep(300);
    load.takeSamples();

    const results: Cycle[] = [];
    for (let i = 1; i <= cycles; i++) {
      const before = await api.status();
      const previous = before.stableVersion!;
      const version = `v${i + 1}`;

      // Deploy; its switch is placed from the rollout's events.
      load.phase = 'deploy';
      const d = await api.deploy(version);
      await api.waitRollout(d);
      await sleep(100);
      const deploySamples = load.takeSamples();
      const dEvents = await api.events(d.id);
      const dStep = eventAt(dEvents, 'step.started', /^switching/);
      const dSwitched = eventAt(dEvents, 'traffic.switched');
      let deploySwitchMs: number | null = null;
      let deploySwitchVsEventMs: number | null = null;
      if (dStep !== null) {
        const p = switchPoint(deploySamples, dStep - 1, version);
        deploySwitchMs = p.at - dStep;
        if (dSwitched !== null) deploySwitchVsEventMs = p.at - dSwitched;
      }

      // Rollback to the warm previous revision.
      load.phase = 'rollback';
      const t0 = nowMs();
      const r = await api.rollback(`bench cycle ${i}`);
      const apiMs = nowMs() - t0;
      await api.waitRollout(r);
      await sleep(100);
      const samples = load.takeSamples();
      const p = switchPoint(samples, t0, previous);
      const rEvents = await api.events(r.id);
      const rStarted = eventAt(rEvents, 'rollback.started');
      const rSwitched = eventAt(rEvents, 'traffic.switched');
      const switchedData = rEvents.find((e) => e.type === 'traffic.switched')?.data as {
        stagesMs?: Record<string, number>;
        inForceAt?: number | null;
      } | null;
      const inForceAt = switchedData?.inForceAt ?? null;
      const steps = ((r as { state?: { steps?: { name: string }[] } }).state?.steps ?? []).map((x) => x.name);
      if (steps[0] !== 'switchTraffic')
        log(`  cycle ${i}: rollback was not a pure switch (steps: ${steps.join(', ')})`);
      results.push({
        cycle: i,
        deployed: version,
        rolledBackTo: previous,
        rollbackSwitchMs: p.at - t0,
        rollbackInForceMs: inForceAt === null ? null : inForceAt - t0,
        rollbackLastOtherMs: p.lastOtherAt === null ? null : p.lastOtherAt - t0,
        rollbackApiMs: apiMs,
        rollbackOtherRequests: p.other,
        rollbackStartedEventMs: rStarted === null ? null : rStarted - t0,
        rollbackSwitchedEventMs: rSwitched === null ? null : rSwitched - t0,
        deploySwitchMs,
        deploySwitchVsEventMs,
        failed: p.failed,
        resolutionMs: p.resolutionMs,
        rollbackEvents: rEvents.map((e) => `${round(e.at - t0)} ${e.type}`),
        stagesMs: switchedData?.stagesMs ?? {},
      });
      if (i % 10 === 0 || i === cycles) {
        const s = summarize(results.map((c) => c.rollbackSwitchMs));
        log(
          `cycle ${String(i).padStart(3)}/${cycles}  rollback switch median ${round(s.median)} ms, max ${round(s.max)} ms`,
        );
      }
    }
    load.phase = 'end';
    await load.stop();

    const nums = (f: (c: Cycle) => number | null) => results.map(f).filter((v): v is number => v !== null);
    const rows: [string, Summary][] = [
      ['rollback: POST -> data-plane switch', summarize(nums((c) => c.rollbackSwitchMs))],
      ['rollback: POST -> table in force (proxy clock)', summarize(nums((c) => c.rollbackInForceMs))],
      ['rollback: POST -> last old-revision send', summarize(nums((c) => c.rollbackLastOtherMs))],
      ['rollback: API round trip', summarize(nums((c) => c.rollbackApiMs))],
      ['rollback: POST -> rollback.started event', summarize(nums((c) => c.rollbackStartedEventMs))],
      ['rollback: POST -> traffic.switched event', summarize(nums((c) => c.rollbackSwitchedEventMs))],
      ['deploy: switchTraffic step -> data-plane switch', summarize(nums((c) => c.deploySwitchMs))],
      [
        'deploy: traffic.switched event -> data-plane switch',
        summarize(nums((c) => c.deploySwitchVsEventMs)),
      ],
      ['measurement resolution (gap between sends)', summarize(nums((c) => c.resolutionMs))],
      ...[...new Set(results.flatMap((c) => Object.keys(c.stagesMs)))].map((stage): [string, Summary] => [
        `rollback controller stage: ${stage}`,
        summarize(nums((c) => c.stagesMs[stage] ?? null)),
      ]),
    ];
    const byName = new Map(rows);
    const probed = byName.get('rollback: POST -> data-plane switch')!;
    const inForce = byName.get('rollback: POST -> table in force (proxy clock)')!;
    const roundTrip = byName.get('rollback: API round trip')!;
    const verdicts = {
      switchAsProbed: probed.median <= TARGET.switchMedianMs && probed.p99 <= TARGET.switchP99Ms,
      switchInForce: inForce.median <= TARGET.switchMedianMs && inForce.p99 <= TARGET.switchP99Ms,
      apiRoundTrip: roundTrip.median <= TARGET.apiMedianMs,
    };
    const failed = results.reduce((a, c) => a + c.failed, 0);
    const out = {
      command: commandLine(),
      cycles,
      probes,
      machine: { cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: machine().loadavg },
      target: TARGET,
      withinTarget: verdicts,
      failedProbeRequests: failed,
      totalProbeRequests: load.requests,
      probeFailures: load.failed,
      metrics: Object.fromEntries(rows.map(([name, s]) => [name, roundSummary(s)])),
      cycleResults: results.map((c) =>
        Object.fromEntries(Object.entries(c).map(([k, v]) => [k, typeof v === 'number' ? round(v, 2) : v])),
      ),
    };
    if (json) {
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    } else {
      log('');
      log(`command: ${out.command}`);
      log(machineLine(out.machine));
      log(
        `times in ms over ${cycles} cycles; ${probes} probe loops, ${load.requests} probe requests, ${load.failed} failed`,
      );
      log(summaryTable(rows));
      log('');
      const verdict = (ok: boolean) => (ok ? 'PASS' : 'over target');
      const sw = (x: Summary) => `median ${round(x.median)} ms, p99 ${round(x.p99)} ms`;
      const goal = `median <= ${TARGET.switchMedianMs} ms, p99 <= ${TARGET.switchP99Ms} ms`;
      log(`target: switch ${goal} for a warm revision:`);
      log(`  on the proxy's clock:  ${sw(inForce)}: ${verdict(verdicts.switchInForce)}`);
      log(
        `  as the probes saw it:  ${sw(probed)}: ${verdict(verdicts.switchAsProbed)} (resolution median ${round(byName.get('measurement resolution (gap between sends)')!.median)} ms)`,
      );
      log(
        `target: API round trip median <= ${TARGET.apiMedianMs} ms: ${round(roundTrip.median)} ms: ${verdict(verdicts.apiRoundTrip)}`,
      );
    }
    return load.failed > 0 ? 1 : 0;
  } finally {
    api.close();
    await load.stop().catch(() => {});
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
