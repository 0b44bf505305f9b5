// The server's watch over its agent. The agent outlives a server on purpose (a restarted server
// adopts it), so the server cannot wait on it as a child: it polls the pid (kill -0, cheap) for a
// death, and asks the socket (/v1/info) for a hang and for the proxy workers' state. An agent that
// died is started again at once: it re-applies its persisted route tables (the proxy listens
// again), and onRestarted lets the controller start the stable revision's instances, which died
// with it (they run under pdeathsig).

import { readFileSync } from 'node:fs';
import { FailureBackoff } from '../../../shared/failure-backoff.ts';
import type { Logger } from '../../../shared/logger.ts';
import { pidAlive } from '../../../shared/pid-alive.ts';
import { type AgentClient, type AgentInfo, type EnsureAgentOptions, ensureAgent } from './agent-client.ts';

export interface AgentStatus {
  /** up: answers; unresponsive: alive but silent on its socket; down: dead, being restarted. */
  readonly state: 'up' | 'unresponsive' | 'down';
  readonly pid: number;
  /** Why it is not up. */
  readonly reason: string | null;
  /** When it entered this state. */
  readonly since: number;
  /** Agents started by the watch since the server started. */
  readonly restarts: number;
  /** Its last answer to /v1/info (the proxy workers' state), or null. */
  readonly info: AgentInfo | null;
}

export interface AgentWatchOptions {
  readonly dataDir: string;
  /** The server's client of the agent; it keeps working across restarts (same socket path). */
  readonly client: AgentClient;
  /** The agent at start (adopted or spawned). */
  readonly info: AgentInfo;
  readonly log: Logger;
  /** The agent is found dead, before a new one is started (what it ran is gone with it). */
  readonly onLost?: () => void;
  /** A new agent answers: put the apps back on it. Failures are logged, the agent stays up. */
  readonly onRestarted: (info: AgentInfo) => Promise<void>;
  readonly ensure?: EnsureAgentOptions;
  /** Pid check interval. Default 100. */
  readonly pollMs?: number;
  /** Socket probe interval (and its timeout, doubled). Default 1000. */
  readonly probeMs?: number;
  /** Unanswered probes in a row after which a live but silent agent is killed and replaced. Default 10. */
  readonly hungProbes?: number;
}

export class AgentWatch {
  readonly #options: AgentWatchOptions;
  #status: AgentStatus;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  #probing = false;
  #lastProbe = 0;
  #misses = 0;
  #restarting: Promise<void> | null = null;

  constructor(options: AgentWatchOptions) {
    this.#options = options;
    this.#status = {
      state: 'up',
      pid: options.info.pid,
      reason: null,
      since: Date.now(),
      restarts: 0,
      info: options.info,
    };
  }

  status(): AgentStatus {
    return this.#status;
  }

  start(): void {
    const loop = () => {
      if (this.#stopped) return;
      this.#tick();
      this.#timer = setTimeout(loop, this.#options.pollMs ?? 100);
    };
    loop();
  }

  /** Stops watching (before a shutdown of the agent, which must not look like a death). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#restarting;
  }

  #tick(): void {
    if (this.#restarting) return;
    const { pid } = this.#status;
    if (!alive(pid)) {
      this.#lost(`its process (pid ${pid}) is gone`);
      return;
    }
    const probeMs = this.#options.probeMs ?? 1000;
    if (this.#probing || Date.now() - this.#lastProbe < probeMs) return;
    this.#probing = true;
    this.#lastProbe = Date.now();
    this.#options.client
      .info({ timeoutMs: 2 * probeMs })
      .then(
        (info) => this.#answered(info),
        (err: Error) => this.#unanswered(pid, err),
      )
      .finally(() => {
        this.#probing = false;
      });
  }

  #answered(info: AgentInfo): void {
    if (this.#restarting || this.#stopped) return;
    this.#misses = 0;
    if (this.#status.state !== 'up')
      this.#options.log.info({ agentPid: info.pid }, 'agent answers again on its socket');
    // Someone else may have restarted it (a pid we did not start): watch that one.
    this.#set({ state: 'up', pid: info.pid, reason: null, info });
  }

  #unanswered(pid: number, err: Error): void {
    if (this.#restarting || this.#stopped || !alive(pid)) return; // the pid check reports a death
    this.#misses++;
    const hung = this.#options.hungProbes ?? 10;
    if (this.#misses === 1)
      this.#options.log.warn({ agentPid: pid, err }, 'agent does not answer on its socket');
    this.#set({ state: 'unresponsive', reason: `the agent (pid ${pid}) does not answer: ${err.message}` });
    if (this.#misses < hung) return;
    this.#options.log.error(
      { agentPid: pid, probes: this.#misses },
      'agent has not answered for too long; killing it (SIGKILL) to start a new one',
    );
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
    this.#lost(`it did not answer ${this.#misses} probes in a row and was killed`);
  }

  #lost(reason: string): void {
    if (this.#restarting || this.#stopped) return;
    const { pid } = this.#status;
    this.#options.log.error(
      { agentPid: pid, reason },
      'agent died; starting a new one (the apps are down meanwhile)',
    );
    this.#set({ state: 'down', reason: `the agent (pid ${pid}) died: ${reason}; restarting it` });
    this.#options.onLost?.();
    this.#restarting = this.#restart().finally(() => {
      this.#restarting = null;
    });
  }

  async #restart(): Promise<void> {
    const { log, client, dataDir } = this.#options;
    const downSince = this.#status.since;
    const backoff = new FailureBackoff({ baseMs: 250, maxMs: 5000 });
    while (!this.#stopped) {
      try {
        const started = await ensureAgent(dataDir, this.#options.ensure);
        started.client.close(); // ours talks to the same socket
        const info = await client.info();
        this.#misses = 0;
        this.#set({ state: 'up', pid: info.pid, reason: null, info, restarts: this.#status.restarts + 1 });
        log.warn(
          { agentPid: info.pid, downMs: Date.now() - downSince, routeTables: info.routes },
          started.adopted
            ? 'agent back (another one answered)'
            : 'agent restarted; it restored its route tables',
        );
        await this.#options
          .onRestarted(info)
          .catch((err: unknown) => log.error({ err }, 'putting the apps back on the new agent failed'));
        return;
      } catch (err) {
        const note = backoff.failed(Date.now());
        if (note.report)
          log.error({ err, attempts: note.failures }, 'cannot start a new agent; trying again');
        this.#set({ reason: `the agent died and cannot be started again: ${(err as Error).message}` });
        await new Promise((resolve) => setTimeout(resolve, backoff.waitMs(Date.now())));
      }
    }
  }

  #set(change: Partial<AgentStatus>): void {
    const next = { ...this.#status, ...change };
    if (change.state !== undefined && change.state !== this.#status.state) next.since = Date.now();
    this.#status = next;
  }
}

/** Alive and not a zombie (a dead agent nobody reaped yet, e.g. under a PID 1 that does not reap). */
function alive(pid: number): boolean {
  if (!pidAlive(pid)) return false;
  try {
    // state is the field after the parenthesised command name
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc: trust kill -0
  }
}
