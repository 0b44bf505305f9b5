// ProcessSupervisor: runs app instances as child processes of the current process (the agent).
//
// Each instance runs as `setpriv --pdeathsig SIGKILL -- /bin/sh -c 'exec <command>'` in its own
// process group: if the agent dies, the kernel SIGKILLs every instance (nothing could route to
// them any more, and one that ignored SIGTERM would be an orphan); stop and crash
// clean-up signal the whole group, so helpers an app forked go too. A crashed instance restarts
// on the same port after an exponential backoff; too many quick crashes, a command that is not
// found or a cwd that does not exist leave it Failed with a reason.
//
// Phases: Starting (spawned, port not yet accepting connections) -> Running (the port accepts
// TCP connections) -> Backoff (crashed, waiting to restart) -> Stopping -> Stopped; or Failed.
//
// State that must survive an agent restart is kept in <dataDir>/supervisor.json: the port of
// each instance (so routes persisted by the agent point at the right place once the controller
// restarts the instances) and the pid + kernel start time of each running child (so a new agent
// can SIGKILL any instance that outlived its predecessor, e.g. one that ignores SIGTERM).

import { type ChildProcess, spawn } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  type WriteStream,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { childEnv } from '../../../shared/child-env.ts';
import { ephemeralPort, portIsFree } from '../../../shared/ports.ts';
import {
  type Instance,
  type InstancePhase,
  type InstanceSpec,
  type LogLine,
  type Runtime,
  type UsageQuery,
  type UsageRead,
  usageReadError,
} from '../../runtime.ts';
import { LOCAL_HOST } from './local-host.ts';
import { commandName, shellScript } from './shell.ts';
import { type RetainedLine, UsageMonitor, type UsageMonitorOptions } from './usage-monitor.ts';

export const SETPRIV = '/usr/bin/setpriv';

export interface SupervisorOptions {
  /** Logs go to <dataDir>/logs/<app>/<revision>-<index>.log; state to <dataDir>/supervisor.json. */
  readonly dataDir: string;
  /** First restart delay; doubles on each quick crash. Default 200. */
  readonly backoffInitialMs?: number;
  /** Default 10 000. */
  readonly backoffMaxMs?: number;
  /** An instance up this long has its crash count reset. Default 30 000. */
  readonly backoffResetMs?: number;
  /** Consecutive quick crashes before Failed. Default 5. */
  readonly maxQuickCrashes?: number;
  /** Lines kept in memory per instance. Default 1000. */
  readonly logLinesPerInstance?: number;
  /** How often a Starting instance's port is probed. Default 100. */
  readonly readyPollMs?: number;
  /** Use setpriv --pdeathsig. Default: when /usr/bin/setpriv exists. */
  readonly pdeathsig?: boolean;
  /** Stopped instances kept per app (for list and logs). Default 50. */
  readonly keepStoppedPerApp?: number;
  /** SIGKILL instances recorded by a previous agent that are still alive. Default true. */
  readonly sweepOrphans?: boolean;
  /** How usage is measured (lease, history, /proc); the instances and their lines are the supervisor's. */
  readonly usage?: Omit<UsageMonitorOptions, 'instances' | 'retained'>;
  readonly warn?: (message: string) => void;
}

interface LogEntry {
  readonly seq: number;
  readonly line: LogLine;
}

interface Slot {
  spec: InstanceSpec;
  readonly id: string;
  port: number;
  phase: InstancePhase;
  child: ChildProcess | null;
  pid: number | null;
  restarts: number;
  startedAt: number | null;
  lastExit: { code: number | null; signal: string | null; at: number } | null;
  reason: string | null;
  quickCrashes: number;
  /** Bumped on every spawn; events of an older child are ignored. */
  generation: number;
  backoffTimer: NodeJS.Timeout | null;
  readyTimer: NodeJS.Timeout | null;
  /** Resolves when the current child has exited. */
  exited: Promise<void> | null;
  /** Resolves when the current child's stdout and stderr are drained. */
  drained: Promise<void> | null;
  stopping: Promise<void> | null;
  stoppedAt: number;
  logs: RingBuffer<LogEntry>;
  /** The last lines of the current run, for failure reasons. */
  recent: RingBuffer<string>;
  file: WriteStream | null;
}

interface PersistedState {
  ports: Record<string, number>;
  pids: Record<string, { pid: number; startTime: string }>;
}

export class RingBuffer<T> {
  readonly #items: T[] = [];
  readonly #capacity: number;
  #head = 0;

  constructor(capacity: number) {
    this.#capacity = Math.max(1, capacity);
  }

  push(item: T): void {
    if (this.#items.length < this.#capacity) this.#items.push(item);
    else {
      this.#items[this.#head] = item;
      this.#head = (this.#head + 1) % this.#capacity;
    }
  }

  /** Oldest first. */
  toArray(): T[] {
    return [...this.#items.slice(this.#head), ...this.#items.slice(0, this.#head)];
  }

  clear(): void {
    this.#items.length = 0;
    this.#head = 0;
  }
}

const MAX_LINE = 64 * 1024;
let logSeq = 0;

export function instanceId(app: string, revision: number, index: number): string {
  return `${app}/${revision}/${index}`;
}

export class ProcessSupervisor implements Runtime {
  readonly #dataDir: string;
  readonly #backoffInitialMs: number;
  readonly #backoffMaxMs: number;
  readonly #backoffResetMs: number;
  readonly #maxQuickCrashes: number;
  readonly #logLines: number;
  readonly #readyPollMs: number;
  readonly #keepStopped: number;
  readonly #pdeathsig: boolean;
  readonly #warn: (message: string) => void;
  readonly #statePath: string;
  readonly #slots = new Map<string, Slot>();
  readonly #pending = new Map<string, Promise<Instance>>();
  /** Ports of instances from a previous agent, reused when the controller starts them again. */
  readonly #savedPorts: Map<string, number>;
  readonly #usage: UsageMonitor;
  #closed = false;

  constructor(options: SupervisorOptions) {
    this.#dataDir = path.resolve(options.dataDir);
    this.#backoffInitialMs = options.backoffInitialMs ?? 200;
    this.#backoffMaxMs = options.backoffMaxMs ?? 10_000;
    this.#backoffResetMs = options.backoffResetMs ?? 30_000;
    this.#maxQuickCrashes = options.maxQuickCrashes ?? 5;
    this.#logLines = options.logLinesPerInstance ?? 1000;
    this.#readyPollMs = options.readyPollMs ?? 100;
    this.#keepStopped = options.keepStoppedPerApp ?? 50;
    this.#warn = options.warn ?? ((message) => process.emitWarning(message));
    this.#pdeathsig = options.pdeathsig ?? existsSync(SETPRIV);
    if (options.pdeathsig !== false && !this.#pdeathsig) {
      this.#warn(`${SETPRIV} not found: instances will not be killed if the agent dies`);
    }
    mkdirSync(this.#dataDir, { recursive: true });
    this.#statePath = path.join(this.#dataDir, 'supervisor.json');
    this.#usage = new UsageMonitor({
      ...options.usage,
      instances: (app) =>
        [...this.#slots.values()].flatMap((s) =>
          s.spec.app === app && s.pid !== null ? [{ id: s.id, revision: s.spec.revision, pid: s.pid }] : [],
        ),
      retained: (app) => this.#retained(app),
    });
    const state = this.#readState();
    this.#savedPorts = new Map(Object.entries(state.ports));
    if (options.sweepOrphans ?? true) this.#sweep(state);
    this.#writeState();
  }

  /** Whether instances are spawned through setpriv --pdeathsig. */
  get pdeathsig(): boolean {
    return this.#pdeathsig;
  }

  async start(spec: InstanceSpec): Promise<Instance> {
    if (this.#closed) throw new Error('supervisor is shut down');
    const id = instanceId(spec.app, spec.revision, spec.index);
    const pending = this.#pending.get(id);
    if (pending) return pending;
    const promise = this.#start(id, spec).finally(() => this.#pending.delete(id));
    this.#pending.set(id, promise);
    return promise;
  }

  async stopRevision(app: string, revision: number): Promise<void> {
    // A start in flight would otherwise spawn after the stop.
    const prefix = `${app}/${revision}/`;
    const starting = [...this.#pending].filter(([id]) => id.startsWith(prefix)).map(([, p]) => p);
    await Promise.allSettled(starting);
    const slots = [...this.#slots.values()].filter((s) => s.spec.app === app && s.spec.revision === revision);
    await Promise.all(slots.map((slot) => this.#stop(slot)));
    for (const slot of slots) this.#savedPorts.delete(slot.id);
    this.#writeState();
    this.#prune(app);
  }

  async list(app?: string): Promise<Instance[]> {
    return [...this.#slots.values()]
      .filter((s) => app === undefined || s.spec.app === app)
      .sort(
        (a, b) =>
          a.spec.app.localeCompare(b.spec.app) ||
          a.spec.revision - b.spec.revision ||
          a.spec.index - b.spec.index,
      )
      .map((s) => snapshot(s));
  }

  /** Synchronous view of one instance, or undefined. */
  get(app: string, revision: number, index: number): Instance | undefined {
    const slot = this.#slots.get(instanceId(app, revision, index));
    return slot ? snapshot(slot) : undefined;
  }

  async logs(app: string, options: { revision?: number; tail?: number } = {}): Promise<LogLine[]> {
    const tail = Math.max(0, options.tail ?? 100);
    const entries: LogEntry[] = [];
    for (const slot of this.#slots.values()) {
      if (slot.spec.app !== app) continue;
      if (options.revision !== undefined && slot.spec.revision !== options.revision) continue;
      entries.push(...slot.logs.toArray());
    }
    entries.sort((a, b) => a.seq - b.seq);
    return entries.slice(Math.max(0, entries.length - tail)).map((e) => e.line);
  }

  /** CPU, memory and error lines per second of the app's instances (usage-monitor.ts). */
  async usage(app: string, query: UsageQuery): Promise<UsageRead> {
    try {
      return this.#usage.read(app, query);
    } catch (err) {
      return usageReadError(err);
    }
  }

  /** Whether usage is being measured (some app was read in the last seconds). */
  get measuringUsage(): boolean {
    return this.#usage.active;
  }

  /** Stops every instance (SIGTERM, then SIGKILL after each one's stopTimeoutMs). */
  async shutdown(): Promise<void> {
    this.#closed = true;
    this.#usage.close();
    await Promise.allSettled([...this.#pending.values()]);
    await Promise.all([...this.#slots.values()].map((slot) => this.#stop(slot)));
    await Promise.all([...this.#slots.values()].map((slot) => closeFile(slot)));
    this.#writeState();
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  async #start(id: string, spec: InstanceSpec): Promise<Instance> {
    let slot = this.#slots.get(id);
    if (slot?.stopping) await slot.stopping;
    if (slot && (slot.phase === 'Starting' || slot.phase === 'Running' || slot.phase === 'Backoff')) {
      return snapshot(slot);
    }
    const port = await this.#pickPort(id, slot?.port);
    if (this.#closed) throw new Error('supervisor is shut down');
    if (slot) {
      // Stopped or Failed: start afresh on the same slot (keeps its logs).
      slot.spec = spec;
      slot.port = port;
      slot.restarts = 0;
      slot.quickCrashes = 0;
      slot.reason = null;
    } else {
      slot = {
        spec,
        id,
        port,
        phase: 'Starting',
        child: null,
        pid: null,
        restarts: 0,
        startedAt: null,
        lastExit: null,
        reason: null,
        quickCrashes: 0,
        generation: 0,
        backoffTimer: null,
        readyTimer: null,
        exited: null,
        drained: null,
        stopping: null,
        stoppedAt: 0,
        logs: new RingBuffer(this.#logLines),
        recent: new RingBuffer(10),
        file: null,
      };
      this.#slots.set(id, slot);
    }
    this.#savedPorts.set(id, port);
    this.#spawn(slot);
    return snapshot(slot);
  }

  #spawn(slot: Slot): void {
    const { spec } = slot;
    slot.generation += 1;
    const generation = slot.generation;
    slot.recent.clear();
    slot.phase = 'Starting';
    slot.startedAt = Date.now();
    slot.pid = null;
    this.#openFile(slot);

    const cwd = path.resolve(this.#dataDir, spec.cwd);
    if (!isDirectory(cwd)) {
      this.#fail(slot, `cwd does not exist: ${cwd}`);
      return;
    }
    const env: NodeJS.ProcessEnv = {
      ...childEnv(),
      ...spec.env,
      PORT: String(slot.port),
      REWIND_APP: spec.app,
      REWIND_REVISION: String(spec.revision),
      REWIND_INSTANCE: String(spec.index),
    };
    const script = shellScript(spec.command);
    const [file, args] = this.#pdeathsig
      ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', '/bin/sh', '-c', script]]
      : ['/bin/sh', ['-c', script]];

    let child: ChildProcess;
    try {
      child = spawn(file, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      this.#fail(slot, `cannot spawn: ${(error as Error).message}`);
      return;
    }
    slot.child = child;
    let resolveExited!: () => void;
    slot.exited = new Promise((resolve) => {
      resolveExited = resolve;
    });
    let done = false;
    const onExit = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
      if (done) return;
      done = true;
      resolveExited();
      if (slot.generation === generation) this.#exited(slot, child, code, signal, error);
    };
    child.once('error', (error) => onExit(null, null, error));
    child.once('exit', (code, signal) => onExit(code, signal));
    slot.drained = new Promise((resolve) => {
      child.once('close', () => resolve());
      child.once('error', () => resolve());
    });
    this.#pipe(slot, child, 'stdout');
    this.#pipe(slot, child, 'stderr');

    if (child.pid === undefined) return; // 'error' follows
    slot.pid = child.pid;
    this.#system(slot, `started pid ${child.pid} on port ${slot.port}: ${spec.command}`);
    this.#writeState();
    this.#pollReady(slot, generation);
  }

  #pollReady(slot: Slot, generation: number): void {
    const probe = () => {
      slot.readyTimer = null;
      if (slot.generation !== generation || slot.phase !== 'Starting') return;
      const socket = net.connect({ host: '127.0.0.1', port: slot.port });
      const finish = (ok: boolean) => {
        socket.destroy();
        if (slot.generation !== generation || slot.phase !== 'Starting') return;
        if (ok) {
          slot.phase = 'Running';
          this.#system(slot, `listening on port ${slot.port}`);
        } else {
          slot.readyTimer = setTimeout(probe, this.#readyPollMs);
        }
      };
      socket.once('connect', () => finish(true));
      socket.once('error', () => finish(false));
    };
    slot.readyTimer = setTimeout(probe, Math.min(20, this.#readyPollMs));
  }

  #exited(slot: Slot, child: ChildProcess, code: number | null, signal: string | null, error?: Error): void {
    const at = Date.now();
    if (slot.readyTimer) clearTimeout(slot.readyTimer);
    slot.readyTimer = null;
    slot.child = null;
    slot.pid = null;
    if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL'); // whatever the app left behind
    if (error) {
      this.#system(slot, `spawn error: ${error.message}`);
    } else {
      slot.lastExit = { code, signal, at };
      this.#system(slot, `exited with ${code !== null ? `code ${code}` : `signal ${signal}`}`);
    }
    this.#writeState();
    if (slot.phase === 'Stopping' || this.#closed) {
      slot.phase = 'Stopped';
      slot.stoppedAt = at;
      return;
    }
    if (error) {
      this.#fail(slot, `cannot spawn: ${error.message}`);
      return;
    }
    const uptime = at - (slot.startedAt ?? at);
    if (uptime >= this.#backoffResetMs) slot.quickCrashes = 0;
    const last = slot.recent.toArray();
    const output = last.length ? `; last output:\n${last.join('\n')}` : '';
    if (uptime < this.#backoffResetMs && (code === 127 || code === 126)) {
      const name = notFoundName(last) ?? commandName(slot.spec.command);
      const what = code === 127 ? 'command not found' : 'command not executable';
      this.#fail(slot, `${what}: ${name}${output}`);
      return;
    }
    slot.quickCrashes += 1;
    if (slot.quickCrashes >= this.#maxQuickCrashes) {
      const how = code !== null ? `code ${code}` : `signal ${signal}`;
      this.#fail(slot, `crashed ${slot.quickCrashes} times in a row (last exit: ${how})${output}`);
      return;
    }
    const delay = Math.min(this.#backoffMaxMs, this.#backoffInitialMs * 2 ** (slot.quickCrashes - 1));
    slot.phase = 'Backoff';
    this.#system(slot, `restarting in ${delay} ms`);
    slot.backoffTimer = setTimeout(() => {
      slot.backoffTimer = null;
      if (slot.phase !== 'Backoff' || this.#closed) return;
      slot.restarts += 1;
      this.#spawn(slot);
    }, delay);
  }

  #fail(slot: Slot, reason: string): void {
    slot.phase = 'Failed';
    slot.reason = reason;
    slot.pid = null;
    this.#system(slot, `failed: ${reason}`);
  }

  async #stop(slot: Slot): Promise<void> {
    if (slot.stopping) return slot.stopping;
    if (slot.backoffTimer) clearTimeout(slot.backoffTimer);
    slot.backoffTimer = null;
    if (slot.readyTimer) clearTimeout(slot.readyTimer);
    slot.readyTimer = null;
    const child = slot.child;
    if (!child || child.pid === undefined) {
      if (slot.phase !== 'Stopped') {
        slot.phase = 'Stopped';
        slot.stoppedAt = Date.now();
      }
      await closeFile(slot);
      return;
    }
    const pid = child.pid;
    slot.phase = 'Stopping';
    slot.stopping = (async () => {
      this.#system(slot, `stopping pid ${pid} (SIGTERM, SIGKILL after ${slot.spec.stopTimeoutMs} ms)`);
      killGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => {
        this.#system(slot, `pid ${pid} still running after ${slot.spec.stopTimeoutMs} ms: SIGKILL`);
        killGroup(pid, 'SIGKILL');
      }, slot.spec.stopTimeoutMs);
      await slot.exited;
      clearTimeout(timer);
      // Let the last lines reach the log file (unless a grandchild holds the pipes open).
      await within(slot.drained, 500);
      await closeFile(slot);
    })().finally(() => {
      slot.stopping = null;
    });
    return slot.stopping;
  }

  /** Forget the oldest stopped instances of an app beyond keepStoppedPerApp. */
  #prune(app: string): void {
    const stopped = [...this.#slots.values()]
      .filter((s) => s.spec.app === app && s.phase === 'Stopped' && !s.stopping)
      .sort((a, b) => b.stoppedAt - a.stoppedAt);
    for (const slot of stopped.slice(this.#keepStopped)) this.#slots.delete(slot.id);
  }

  // ---- ports -----------------------------------------------------------------------------------

  async #pickPort(id: string, current: number | undefined): Promise<number> {
    const taken = new Set<number>();
    for (const s of this.#slots.values()) if (s.id !== id && s.phase !== 'Stopped') taken.add(s.port);
    for (const [other, port] of this.#savedPorts) if (other !== id) taken.add(port);
    for (const preferred of [current, this.#savedPorts.get(id)]) {
      if (preferred !== undefined && !taken.has(preferred) && (await portIsFree(preferred))) return preferred;
    }
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = await ephemeralPort();
      if (!taken.has(port)) return port;
    }
    throw new Error('no free port found on 127.0.0.1');
  }

  // ---- output ----------------------------------------------------------------------------------

  #pipe(slot: Slot, child: ChildProcess, stream: 'stdout' | 'stderr'): void {
    const readable = child[stream];
    if (!readable) return;
    readable.setEncoding('utf8');
    let partial = '';
    readable.on('data', (chunk: string) => {
      partial += chunk;
      let newline = partial.indexOf('\n');
      while (newline !== -1) {
        this.#line(slot, stream, partial.slice(0, newline).replace(/\r$/, ''));
        partial = partial.slice(newline + 1);
        newline = partial.indexOf('\n');
      }
      if (partial.length > MAX_LINE) {
        this.#line(slot, stream, partial);
        partial = '';
      }
    });
    readable.on('end', () => {
      if (partial !== '') this.#line(slot, stream, partial);
      partial = '';
    });
    readable.on('error', () => {});
  }

  #line(slot: Slot, stream: LogLine['stream'], line: string): void {
    const entry: LogEntry = { seq: ++logSeq, line: { at: Date.now(), instance: slot.id, stream, line } };
    slot.logs.push(entry);
    if (stream !== 'system') {
      slot.recent.push(line);
      this.#usage.line(slot.spec.app, slot.id, slot.spec.revision, entry.line.at, line);
    }
    slot.file?.write(`${new Date(entry.line.at).toISOString()} ${stream} ${line}\n`);
  }

  *#retained(app: string): Generator<RetainedLine> {
    for (const slot of this.#slots.values()) {
      if (slot.spec.app !== app) continue;
      for (const { line } of slot.logs.toArray())
        if (line.stream !== 'system')
          yield { instance: slot.id, revision: slot.spec.revision, at: line.at, line: line.line };
    }
  }

  #system(slot: Slot, line: string): void {
    this.#line(slot, 'system', line);
  }

  #openFile(slot: Slot): void {
    if (slot.file) return;
    const dir = path.join(this.#dataDir, 'logs', safeName(slot.spec.app));
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const file = createWriteStream(path.join(dir, `${slot.spec.revision}-${slot.spec.index}.log`), {
        flags: 'a',
        mode: 0o600,
      });
      file.on('error', (error) => {
        this.#warn(`log file of ${slot.id}: ${error.message}`);
        if (slot.file === file) slot.file = null;
      });
      slot.file = file;
    } catch (error) {
      this.#warn(`log file of ${slot.id}: ${(error as Error).message}`);
    }
  }

  // ---- persisted state -------------------------------------------------------------------------

  #readState(): PersistedState {
    try {
      const raw = JSON.parse(readFileSync(this.#statePath, 'utf8')) as Partial<PersistedState>;
      return { ports: raw.ports ?? {}, pids: raw.pids ?? {} };
    } catch {
      return { ports: {}, pids: {} };
    }
  }

  #writeState(): void {
    const state: PersistedState = { ports: Object.fromEntries(this.#savedPorts), pids: {} };
    for (const slot of this.#slots.values()) {
      const pid = slot.child?.pid;
      if (pid === undefined || slot.child?.exitCode !== null) continue;
      const startTime = procStartTime(pid);
      if (startTime !== null) state.pids[slot.id] = { pid, startTime };
    }
    try {
      const tmp = `${this.#statePath}.${process.pid}.tmp`;
      writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
      renameSync(tmp, this.#statePath);
    } catch (error) {
      this.#warn(`cannot write ${this.#statePath}: ${(error as Error).message}`);
    }
  }

  #sweep(state: PersistedState): void {
    for (const [id, { pid, startTime }] of Object.entries(state.pids)) {
      if (pid === process.pid || procStartTime(pid) !== startTime) continue;
      this.#warn(`killing instance ${id} (pid ${pid}) left over by a previous agent`);
      killGroup(pid, 'SIGKILL');
    }
  }
}

function snapshot(slot: Slot): Instance {
  return {
    id: slot.id,
    app: slot.spec.app,
    revision: slot.spec.revision,
    index: slot.spec.index,
    phase: slot.phase,
    pid: slot.pid,
    port: slot.port,
    address: { host: LOCAL_HOST, port: slot.port },
    restarts: slot.restarts,
    startedAt: slot.startedAt,
    lastExit: slot.lastExit ? { ...slot.lastExit } : null,
    reason: slot.reason,
  };
}

/** Signal a process group (instances are group leaders), falling back to the process alone. */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // gone
    }
  }
}

/** The kernel start time of a process (field 22 of /proc/<pid>/stat), or null if unknown. */
export function procStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return null;
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** Waits for a promise, at most ms. */
async function within(promise: Promise<void> | null, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

function closeFile(slot: Slot): Promise<void> {
  const file = slot.file;
  slot.file = null;
  if (!file) return Promise.resolve();
  return new Promise((resolve) => file.end(resolve));
}

function notFoundName(lines: readonly string[]): string | null {
  for (let i = lines.length - 1; i >= 0; i--) {
    const match = /(?:^|: )([^:\s][^:]*): (?:command )?not found/.exec(lines[i] ?? '');
    if (match?.[1]) return match[1];
  }
  return null;
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

function safeName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return safe === '' || safe === '.' || safe === '..' ? `_${safe}` : safe;
}
