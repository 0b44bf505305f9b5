// Maintenance switch benchmark: how long from the API call that turns maintenance mode on to the
// first 503 the load sees, and from the call that turns it off to the first 200 again. Keep-alive
// load loops hit the app through the proxy and record every request; each round turns maintenance
// on (t0 = just before POST), waits for the load to see the page, turns it off (t1), waits for the
// app again. Beside the load's view: the API's answer (it answers once every proxy worker serves
// the change) and the moment the last worker had it (inForceAt, the proxy's clock, same machine).
//
//   node bench/maintenance.ts [--rounds 30] [--probes 4] [--interval-ms 1] [--json]
// --interval-ms is each probe loop's pause between requests (0: closed loops that saturate a small
// machine, and then the switch is measured under that load).
import {
  ApiClient,
  benchConfig,
  commandLine,
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

const args = process.argv.slice(2);
const rounds = intFlag(args, 'rounds', 30);
const probes = intFlag(args, 'probes', 4);
const intervalMs = intFlag(args, 'interval-ms', 1, true);
const json = args.includes('--json');
const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);

interface Switch {
  /** The API's answer, from just before the call. */
  readonly apiMs: number;
  /** The last proxy worker had it (the proxy's clock), from just before the call. */
  readonly inForceMs: number | null;
  /** The first reply of the new kind the load received, from just before the call. */
  readonly firstSeenMs: number;
  /** Replies received after the call that were neither the old kind nor the new one. */
  readonly other: number;
}

interface Answer {
  readonly inForceAt: number | null;
}

/**
 * Turns maintenance on or off and waits until the load has received `enough` replies of the new
 * kind; returns the round's figures from the samples received after the call.
 */
async function flip(api: ApiClient, load: LoadRecorder, on: boolean): Promise<Switch> {
  const want = on ? 503 : 200;
  const t0 = nowMs();
  const answer = await api.post<Answer>('/api/v1/apps/shop/maintenance', { on, reason: 'bench' }, 200);
  const apiMs = nowMs() - t0;
  const after = () => load.samples.filter((s) => s.doneAt >= t0);
  const enough = 3 * probes;
  for (let waited = 0; after().filter((s) => s.status === want).length < enough; waited += 2) {
    if (waited > 10_000)
      throw new Error(`the load saw no ${want} within 10 s of turning maintenance ${on ? 'on' : 'off'}`);
    await sleep(2);
  }
  const samples = load.takeSamples().filter((s) => s.doneAt >= t0);
  const first = Math.min(...samples.filter((s) => s.status === want).map((s) => s.doneAt));
  return {
    apiMs,
    inForceMs: answer.inForceAt === null ? null : answer.inForceAt - t0,
    firstSeenMs: first - t0,
    other: samples.filter((s: Sample) => s.error !== null || (s.status !== 200 && s.status !== 503)).length,
  };
}

async function main(): Promise<number> {
  const h = await startBenchRewind(benchConfig);
  const api = new ApiClient(h.apiUrl, h.token);
  const load = new LoadRecorder(`${h.appUrl}/products`, probes);
  try {
    const atStart = machine();
    await api.waitIdle();
    log(`rewind up: api ${h.apiUrl}, app ${h.appUrl}`);
    log(
      `${probes} probe loops on ${h.appUrl}/products (${intervalMs} ms between requests); ${rounds} rounds of maintenance on, then off`,
    );
    load.keepSamples = true;
    load.intervalMs = intervalMs;
    load.start();
    await sleep(300);
    load.takeSamples();

    const ons: Switch[] = [];
    const offs: Switch[] = [];
    for (let i = 1; i <= rounds; i++) {
      load.phase = 'on';
      ons.push(await flip(api, load, true));
      load.phase = 'off';
      offs.push(await flip(api, load, false));
      if (i % 10 === 0 || i === rounds)
        log(
          `round ${String(i).padStart(3)}/${rounds}  on: first 503 median ${round(summarize(ons.map((s) => s.firstSeenMs)).median)} ms; off: first 200 median ${round(summarize(offs.map((s) => s.firstSeenMs)).median)} ms`,
        );
    }
    load.phase = 'end';
    await load.stop();

    const nums = (list: Switch[], f: (s: Switch) => number | null) =>
      list.map(f).filter((v): v is number => v !== null);
    const rows: [string, Summary][] = [
      ['on: POST -> first 503 seen by the load', summarize(nums(ons, (s) => s.firstSeenMs))],
      ['on: POST -> in force in every worker (proxy clock)', summarize(nums(ons, (s) => s.inForceMs))],
      ['on: API round trip', summarize(nums(ons, (s) => s.apiMs))],
      ['off: POST -> first 200 seen by the load', summarize(nums(offs, (s) => s.firstSeenMs))],
      ['off: POST -> in force in every worker (proxy clock)', summarize(nums(offs, (s) => s.inForceMs))],
      ['off: API round trip', summarize(nums(offs, (s) => s.apiMs))],
    ];
    const other = [...ons, ...offs].reduce((a, s) => a + s.other, 0);
    const out = {
      command: commandLine(),
      rounds,
      probes,
      intervalMs,
      machine: { cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: machine().loadavg },
      requests: load.requests,
      otherReplies: other,
      metrics: Object.fromEntries(rows.map(([name, s]) => [name, roundSummary(s)])),
    };
    if (json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    else {
      log('');
      log(`command: ${out.command}`);
      log(machineLine(out.machine));
      log(
        `times in ms over ${rounds} rounds; ${probes} probe loops, ${load.requests} requests, ${other} neither 200 nor 503 (errors included)`,
      );
      log(summaryTable(rows));
    }
    return other > 0 ? 1 : 0;
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
