// Figures guard: runs SHORT versions of the headline benchmarks as child processes, one after
// another, and checks each headline figure against its reference (a documented target, a figure
// recorded in docs/benchmarks.md, or a peer measured in the same run) with a stated tolerance.
// Prints one table: figure, measured, reference, tolerance, limit, result, when the reference was
// recorded (and whether the code it measures has changed since), and the command that measured it.
//
//   node bench/guard.ts [--only switch,detection,false-alarms,proxy,flags,idle] [--json]
//
// Results: pass, regressed (outside the tolerance), error (the child process failed, timed out or
// printed no usable JSON: never a pass), not checked (a peer tool such as nginx is not installed:
// never a pass either). Exit code 1 if any figure regressed or errored, 0 otherwise.
// The default run took 135 s on 2 cores at load average 11 (proxy not checked: it adds ~20 s). Children's progress goes to stderr; with
// --json, stdout carries only the table as JSON.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { ROOT } from '../test/support/rewind-harness.ts';
import { machine, round, table } from './lib/rewind-cycle.ts';

// ---------- references: one row per checked figure ----------

/** `at-most`: the measured value must not exceed value x tolerance; `at-least`: not fall below it. */
export type Direction = 'at-most' | 'at-least';
export type GroupName = 'switch' | 'detection' | 'false-alarms' | 'proxy' | 'flags' | 'idle';

export interface Reference {
  readonly id: string;
  readonly group: GroupName;
  readonly figure: string;
  readonly unit: string;
  /** The documented value or target. */
  readonly value: number;
  /** `target`: a documented goal; `recorded`: a figure measured and written down in docs/benchmarks.md. */
  readonly kind: 'target' | 'recorded';
  readonly direction: Direction;
  /** limit = value x tolerance (1 = the value itself). */
  readonly tolerance: number;
  readonly toleranceText: string;
  /** The section of docs/benchmarks.md (or the issue) the value comes from. */
  readonly source: string;
  /** The commit that wrote the documented figure down and its date: the code measured is the one before it. */
  readonly recorded: { readonly commit: string; readonly date: string };
  /** Paths whose later commits make the recorded figure older than the code it measures. */
  readonly code: readonly string[];
}

const DOC = 'docs/benchmarks.md';
export const REFERENCES: readonly Reference[] = [
  {
    id: 'switch-median',
    group: 'switch',
    figure: 'rollback POST -> table in force in the proxy, median',
    unit: 'ms',
    value: 10,
    kind: 'target',
    direction: 'at-most',
    tolerance: 1,
    toleranceText: '1.0x (the target)',
    source: `${DOC} "Switch time" (issue 18 target; recorded 9.9 ms with no database or flags)`,
    recorded: { commit: '256145f', date: '2026-11-22' },
    code: ['src'],
  },
  {
    id: 'switch-p99',
    group: 'switch',
    figure: 'rollback POST -> table in force in the proxy, p99',
    unit: 'ms',
    value: 30,
    kind: 'target',
    direction: 'at-most',
    tolerance: 1,
    toleranceText: '1.0x (the target)',
    source: `${DOC} "Switch time" (issue 18 target; recorded 17.3 ms)`,
    recorded: { commit: '256145f', date: '2026-11-22' },
    code: ['src'],
  },
  {
    id: 'switch-api',
    group: 'switch',
    figure: 'rollback API round trip, median',
    unit: 'ms',
    value: 50,
    kind: 'target',
    direction: 'at-most',
    tolerance: 1,
    toleranceText: '1.0x (the target)',
    source: `${DOC} "Switch time" (issue 18 target; recorded 36.7 ms)`,
    recorded: { commit: '256145f', date: '2026-11-22' },
    code: ['src'],
  },
  {
    id: 'detection-err20',
    group: 'detection',
    figure: 'errors 20%: first bad -> decision',
    unit: 's',
    value: 2,
    kind: 'target',
    direction: 'at-most',
    tolerance: 1,
    toleranceText: '1.0x (the target)',
    source: `${DOC} "Detection: bad canaries end to end" (target < 2 s)`,
    recorded: { commit: 'de113ea', date: '2026-11-22' },
    code: ['src'],
  },
  {
    id: 'detection-err5',
    group: 'detection',
    figure: 'errors 5%: first bad -> decision',
    unit: 's',
    value: 10,
    kind: 'target',
    direction: 'at-most',
    tolerance: 1,
    toleranceText: '1.0x (the target)',
    source: `${DOC} "Detection: bad canaries end to end" (target < 10 s)`,
    recorded: { commit: 'de113ea', date: '2026-11-22' },
    code: ['src'],
  },
  {
    id: 'false-alarms',
    group: 'false-alarms',
    figure: 'healthy canaries rolled back (simulated + real)',
    unit: 'rollbacks',
    value: 0,
    kind: 'recorded',
    direction: 'at-most',
    tolerance: 1,
    toleranceText: 'none (exactly 0)',
    source: `${DOC} "False alarms: healthy canaries" (0 of 300 simulated, 0 of 5 real)`,
    recorded: { commit: 'de113ea', date: '2026-11-22' },
    code: ['src/features/analysis', 'src/features/rollouts'],
  },
  {
    id: 'proxy-c50',
    group: 'proxy',
    figure: 'throughput Rewind / nginx at 50 connections',
    unit: 'x',
    value: 1.03,
    kind: 'recorded',
    direction: 'at-least',
    tolerance: 0.9,
    toleranceText: '-10%',
    source: `${DOC} "Proxy: built-in data plane vs nginx and HAProxy" (Rewind row, c50, vs nginx)`,
    recorded: { commit: '256145f', date: '2026-11-22' },
    code: ['src/proxy', 'src/providers/builtin/proxy'],
  },
  {
    id: 'ofrep-p99-node',
    group: 'flags',
    figure: 'OFREP single p99, Rewind / bare peer (Node open loop)',
    unit: 'x',
    value: 1.91,
    kind: 'recorded',
    direction: 'at-most',
    tolerance: 1.5,
    toleranceText: '+50%',
    source: `${DOC} "Feature flags and OFREP" (Node open loop, single: 4.77 / 2.50 ms)`,
    recorded: { commit: 'c5fa771', date: '2026-11-23' },
    code: ['src/features/flags', 'src/server'],
  },
  {
    id: 'ofrep-p99-h2load',
    group: 'flags',
    figure: 'OFREP single p99, Rewind / bare peer (h2load)',
    unit: 'x',
    value: 1.25,
    kind: 'recorded',
    direction: 'at-most',
    tolerance: 1.5,
    toleranceText: '+50%',
    source: `${DOC} "Feature flags and OFREP" (h2load, single: 1.25 / 1.00 ms)`,
    recorded: { commit: 'c5fa771', date: '2026-11-23' },
    code: ['src/features/flags', 'src/server'],
  },
  {
    id: 'idle-server',
    group: 'idle',
    figure: 'idle controller CPU (rewind server)',
    unit: 'ms/s',
    value: 36,
    kind: 'recorded',
    direction: 'at-most',
    tolerance: 1.3,
    toleranceText: '+30%',
    source: `${DOC} "Idle controller: CPU while nothing happens" (after: 33 / 36 / 37, median 36)`,
    recorded: { commit: '6c5f3f1', date: '2026-11-23' },
    code: ['src'],
  },
];

// ---------- the short runs ----------

/** One figure as read from a child's JSON: a number, or null with what happened instead. */
interface Reading {
  readonly id: string;
  readonly value: number | null;
  /** Shown instead of the number (e.g. "not detected in 30 s"), or beside it. */
  readonly text?: string;
  /** The figure could not be checked for a reason that is not a regression. */
  readonly error?: string;
  readonly notChecked?: string;
}

interface Group {
  readonly name: GroupName;
  readonly script: string;
  readonly args: readonly string[];
  readonly timeoutS: number;
  /** Commands that must be on PATH: without one, every figure of the group is "not checked". */
  readonly requires?: readonly { readonly command: string; readonly why: string }[];
  read(out: unknown): Reading[];
}

export const GROUPS: readonly Group[] = [
  {
    name: 'switch',
    script: 'bench/switch.ts',
    args: ['--cycles', '10', '--with-db-flags', '--json'],
    timeoutS: 180,
    read(out) {
      const metric = (name: string, key: string) => num(out, ['metrics', name, key]);
      return [
        // Judged on the proxy's clock (when the last worker had the table); what the probes saw,
        // which adds the wait for the next probe request, is shown beside it.
        ...(['median', 'p99'] as const).map((key) => ({
          id: `switch-${key}`,
          value: metric('rollback: POST -> table in force (proxy clock)', key),
          text: `probes saw ${round(metric('rollback: POST -> data-plane switch', key), 1)} ms`,
        })),
        { id: 'switch-api', value: metric('rollback: API round trip', 'median') },
      ];
    },
  },
  {
    name: 'detection',
    script: 'bench/detection.ts',
    args: ['--only', 'err20,err5', '--cap', '30', '--json'],
    timeoutS: 180,
    read(out) {
      const results = get(out, ['results']);
      if (!Array.isArray(results)) throw new Error('no "results" array in the JSON');
      return (['err20', 'err5'] as const).map((scenario): Reading => {
        const id = `detection-${scenario}`;
        const r = results.find((x) => get(x, ['scenario']) === scenario);
        if (r === undefined) return { id, value: null, error: `no result for scenario ${scenario}` };
        const ms = get(r, ['firstBadToDecisionMs']);
        if (typeof ms === 'number') return { id, value: ms / 1000 };
        return { id, value: null, text: `${String(get(r, ['outcome']))} (no decision)` };
      });
    },
  },
  {
    name: 'false-alarms',
    script: 'bench/false-alarms.ts',
    args: ['--runs', '20', '--real', '2', '--real-pause', '10', '--json'],
    timeoutS: 180,
    read(out) {
      const simRuns = num(out, ['simulated', 'runs']);
      const realRuns = num(out, ['real', 'runs']);
      const sim = num(out, ['simulated', 'falseRollbacks']);
      const real = num(out, ['real', 'falseRollbacks']);
      const completed = num(out, ['real', 'completed']);
      const text = `${sim} of ${simRuns} simulated, ${real} of ${realRuns} real`;
      // A real canary that neither completed nor was rolled back (failed, capped) proves nothing.
      const unfinished = realRuns - completed - real;
      if (unfinished > 0)
        return [
          {
            id: 'false-alarms',
            value: sim + real,
            text,
            error: `${unfinished} real canaries neither completed nor were rolled back`,
          },
        ];
      return [{ id: 'false-alarms', value: sim + real, text }];
    },
  },
  {
    name: 'proxy',
    script: 'bench/proxy.ts',
    // Three interleaved 5 s rounds, the median kept: one 5 s run swung 0.86x-1.22x on a quiet box.
    args: ['--duration', '5', '--connections', '50', '--only', 'nginx,rewind', '--rounds', '3', '--json'],
    timeoutS: 180,
    requires: [
      { command: 'nginx', why: 'nginx missing' },
      { command: 'wrk', why: 'wrk missing' },
    ],
    read(out) {
      const rows = get(out, ['rows']);
      if (!Array.isArray(rows)) throw new Error('no "rows" array in the JSON');
      const rewind = rows.find(
        (r) => String(get(r, ['target'])).startsWith('rewind') && get(r, ['connections']) === 50,
      );
      const ratio = get(rewind, ['rpsVsNginx']);
      if (typeof ratio !== 'number') throw new Error('no Rewind row with rpsVsNginx at 50 connections');
      return [{ id: 'proxy-c50', value: ratio }];
    },
  },
  {
    name: 'flags',
    script: 'bench/flags.ts',
    args: ['--duration', '4', '--prime', '4', '--cycles', '4', '--eval-ms', '50', '--rounds', '1', '--json'],
    timeoutS: 180,
    read(out) {
      const ratio = (results: unknown, id: string): Reading => {
        if (!Array.isArray(results)) throw new Error(`no OFREP results for ${id}`);
        const p99 = (server: string) => {
          const row = results.find(
            (r) => get(r, ['kind']) === 'single' && String(get(r, ['target'])).startsWith(server),
          );
          return num(row, ['latency', 'p99']);
        };
        const rewind = p99('Rewind');
        const peer = p99('peer');
        return { id, value: rewind / peer, text: `${round(rewind, 2)} / ${round(peer, 2)} ms` };
      };
      const h2load = get(out, ['ofrep', 'h2load']);
      return [
        ratio(get(out, ['ofrep', 'results']), 'ofrep-p99-node'),
        h2load === null
          ? { id: 'ofrep-p99-h2load', value: null, notChecked: 'h2load missing' }
          : ratio(get(h2load, ['results']), 'ofrep-p99-h2load'),
      ];
    },
  },
  {
    name: 'idle',
    script: 'bench/idle.ts',
    // The median of three 5 s windows: one window read 38-54 ms/s on the same code.
    args: ['--seconds', '5', '--rounds', '3', '--json'],
    timeoutS: 90,
    read(out) {
      return [{ id: 'idle-server', value: num(out, ['serverCpuMsPerS', 'median']) }];
    },
  },
];

function get(value: unknown, path: readonly (string | number)[]): unknown {
  let v = value;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}

function num(value: unknown, path: readonly (string | number)[]): number {
  const v = get(value, path);
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`no number at ${path.join('.')}`);
  return v;
}

// ---------- running a child ----------

interface ChildResult {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderrTail: string[];
  readonly seconds: number;
}

let current: ChildProcess | null = null;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {}
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (current) killGroup(current, 'SIGTERM');
    process.exit(130);
  });
}

function runChild(group: Group): Promise<ChildResult> {
  const t0 = performance.now();
  // Its own process group, so that a timeout also stops the servers and load it started.
  const child = spawn(process.execPath, [group.script, ...group.args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  current = child;
  let stdout = '';
  const tail: string[] = [];
  let partial = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      process.stderr.write(`  [${group.name}] ${line}\n`);
      tail.push(line);
      if (tail.length > 15) tail.shift();
    }
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child, 'SIGTERM');
    setTimeout(() => killGroup(child, 'SIGKILL'), 5000).unref();
  }, group.timeoutS * 1000);
  return new Promise((resolve) => {
    const finish = (exitCode: number | null, signal: string | null, error?: Error) => {
      clearTimeout(timer);
      current = null;
      if (partial !== '') tail.push(partial);
      if (error) tail.push(error.message);
      resolve({
        exitCode,
        signal,
        timedOut,
        stdout,
        stderrTail: tail,
        seconds: (performance.now() - t0) / 1000,
      });
    };
    child.on('error', (err) => finish(null, null, err));
    child.on('close', (code, signal) => finish(code, signal));
  });
}

function parseJson(stdout: string): unknown {
  const text = stdout.trim();
  try {
    return JSON.parse(text);
  } catch {
    // Anything printed before the JSON document: take it from its first line that opens an object.
    const start = text.search(/^\{/m);
    if (start < 0) throw new Error('no JSON on stdout');
    return JSON.parse(text.slice(start));
  }
}

function onPath(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// ---------- staleness of the recorded figures ----------

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}

/** Commits to the measured code since the reference was written down (null: git could not tell). */
function commitsSince(ref: Reference): number | null {
  const n = git(['rev-list', '--count', `${ref.recorded.commit}..HEAD`, '--', ...ref.code]);
  return n === null ? null : Number(n);
}

function recordedText(ref: Reference, since: number | null): string {
  const base = `before ${ref.recorded.commit} ${ref.recorded.date}`;
  if (since === null) return `${base}, age unknown`;
  if (since === 0) return `${base}, current`;
  return `${base}, older than the code (${since} commit${since === 1 ? '' : 's'} to ${ref.code.join(' ')})`;
}

// ---------- checking ----------

export type Result = 'pass' | 'regressed' | 'error' | 'not checked';

export interface Row {
  readonly id: string;
  readonly group: GroupName;
  readonly figure: string;
  readonly measured: number | null;
  readonly measuredText: string;
  readonly unit: string;
  readonly reference: number;
  readonly referenceKind: Reference['kind'];
  readonly direction: Direction;
  readonly tolerance: string;
  readonly limit: number;
  readonly result: Result;
  readonly reason: string | null;
  readonly source: string;
  readonly recorded: { readonly commit: string; readonly date: string; readonly commitsSince: number | null };
  readonly command: string;
  readonly seconds: number | null;
}

export function limitOf(ref: Reference): number {
  return ref.value * ref.tolerance;
}

export function within(ref: Reference, measured: number): boolean {
  const limit = limitOf(ref);
  return ref.direction === 'at-most' ? measured <= limit : measured >= limit;
}

function fmt(n: number): string {
  return String(Math.abs(n) >= 100 ? Math.round(n) : round(n, 2));
}

function withUnit(n: number, unit: string): string {
  if (unit === 'x') return `${fmt(n)}x`;
  if (unit === 'rollbacks') return fmt(n);
  return `${fmt(n)} ${unit}`;
}

function row(
  ref: Reference,
  group: Group,
  reading: Reading | null,
  failure: string | null,
  seconds: number | null,
): Row {
  const measured = reading?.value ?? null;
  let result: Result;
  let reason: string | null = null;
  if (reading?.notChecked) {
    result = 'not checked';
    reason = reading.notChecked;
  } else if (failure !== null || reading === null || reading.error) {
    result = 'error';
    reason = failure ?? reading?.error ?? 'no reading';
  } else if (measured === null) {
    result = 'regressed';
    reason = reading.text ?? 'no value';
  } else {
    result = within(ref, measured) ? 'pass' : 'regressed';
  }
  const shown =
    measured === null
      ? (reading?.text ?? '-')
      : `${withUnit(measured, ref.unit)}${reading?.text ? ` (${reading.text})` : ''}`;
  return {
    id: ref.id,
    group: ref.group,
    figure: ref.figure,
    measured: measured === null ? null : round(measured, 3),
    measuredText: shown,
    unit: ref.unit,
    reference: ref.value,
    referenceKind: ref.kind,
    direction: ref.direction,
    tolerance: ref.toleranceText,
    limit: round(limitOf(ref), 3),
    result,
    reason,
    source: ref.source,
    recorded: { ...ref.recorded, commitsSince: commitsSince(ref) },
    command: `node ${group.script} ${group.args.join(' ')}`,
    seconds: seconds === null ? null : round(seconds, 1),
  };
}

async function check(group: Group): Promise<Row[]> {
  const refs = REFERENCES.filter((r) => r.group === group.name);
  const missing = (group.requires ?? []).filter((r) => !onPath(r.command));
  if (missing.length > 0) {
    const why = missing.map((m) => m.why).join(', ');
    process.stderr.write(`guard: ${group.name}: not checked (${why})\n`);
    return refs.map((ref) => row(ref, group, { id: ref.id, value: null, notChecked: why }, null, null));
  }
  process.stderr.write(`guard: ${group.name}: node ${group.script} ${group.args.join(' ')}\n`);
  const run = await runChild(group);
  let failure: string | null = null;
  if (run.timedOut) failure = `timed out after ${group.timeoutS} s`;
  else if (run.exitCode !== 0)
    failure = `exited ${run.exitCode ?? run.signal}: ${run.stderrTail.filter((l) => l.trim() !== '').at(-1) ?? ''}`;
  let readings: Reading[] = [];
  try {
    readings = group.read(parseJson(run.stdout));
  } catch (err) {
    failure ??= `unusable output: ${(err as Error).message}`;
  }
  return refs.map((ref) =>
    row(ref, group, readings.find((r) => r.id === ref.id) ?? null, failure, run.seconds),
  );
}

// ---------- command line ----------

export function parseOnly(args: readonly string[]): Set<GroupName> | null {
  const i = args.indexOf('--only');
  const eq = args.find((a) => a.startsWith('--only='));
  if (i < 0 && eq === undefined) return null;
  const value = i >= 0 ? args[i + 1] : eq!.slice('--only='.length);
  const known = GROUPS.map((g) => g.name) as string[];
  const names = (value ?? '').split(',').filter((n) => n !== '');
  const unknown = names.filter((n) => !known.includes(n));
  if (names.length === 0 || unknown.length > 0)
    throw new Error(
      `--only needs a comma-separated list of ${known.join(', ')}; got "${value ?? ''}"${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}`,
    );
  return new Set(names as GroupName[]);
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  for (const a of args)
    if (a.startsWith('--') && a !== '--json' && a !== '--only' && !a.startsWith('--only='))
      throw new Error(`unknown flag ${a} (use --only LIST and --json)`);
  const only = parseOnly(args);
  const json = args.includes('--json');
  const atStart = machine();
  const head = git(['log', '-1', '--format=%h %cs']) ?? 'unknown';
  const t0 = performance.now();
  const rows: Row[] = [];
  for (const group of GROUPS) if (!only || only.has(group.name)) rows.push(...(await check(group)));
  const atEnd = machine();
  const count = (r: Result) => rows.filter((x) => x.result === r).length;
  const summary = {
    pass: count('pass'),
    regressed: count('regressed'),
    error: count('error'),
    notChecked: count('not checked'),
  };
  const failed = summary.regressed + summary.error > 0;
  if (json) {
    process.stdout.write(
      `${JSON.stringify(
        {
          benchmark: 'guard',
          head,
          machine: { cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: atEnd.loadavg },
          totalSeconds: round((performance.now() - t0) / 1000, 1),
          summary,
          ok: !failed,
          figures: rows,
        },
        null,
        2,
      )}\n`,
    );
  } else {
    const out = (line: string) => process.stdout.write(`${line}\n`);
    out('');
    out(
      `figures guard at ${head}: ${atStart.cpus} CPUs, load average ${atStart.loadavg.join(' ')} at start, ${atEnd.loadavg.join(' ')} at end; ${round((performance.now() - t0) / 1000, 0)} s`,
    );
    out(
      table(
        ['figure', 'measured', 'reference', 'tolerance', 'limit', 'result', 'reference recorded', 'command'],
        rows.map((r) => [
          r.figure,
          r.measuredText,
          `${r.direction === 'at-most' ? '<=' : '>='} ${withUnit(r.reference, r.unit)}${r.referenceKind === 'target' ? ' (target)' : ''}`,
          r.tolerance,
          `${r.direction === 'at-most' ? '<=' : '>='} ${withUnit(r.limit, r.unit)}`,
          r.reason ? `${r.result}: ${r.reason}` : r.result,
          recordedText(REFERENCES.find((x) => x.id === r.id)!, r.recorded.commitsSince),
          r.command,
        ]),
      ),
    );
    out('');
    out('references (docs/benchmarks.md unless stated):');
    for (const r of rows) out(`  ${r.id}: ${r.source}`);
    out('');
    out(
      `${summary.pass} pass, ${summary.regressed} regressed, ${summary.error} error, ${summary.notChecked} not checked: ${failed ? 'FAILED' : summary.notChecked > 0 ? 'ok for the figures checked (some not checked)' : 'ok'}`,
    );
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`guard: ${(err as Error).message}`);
    process.exit(2);
  },
);
