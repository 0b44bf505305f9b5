// The controller's side of the agent API (HTTP over <dataDir>/agent.sock), and ensureAgent():
// adopt the agent that serves a data dir, or start one.

import { spawn } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { childEnv } from '../../../shared/child-env.ts';
import type { Instance, InstanceSpec, LogLine, UsageQuery, UsageRead } from '../../runtime.ts';
import type { AppliedTable, MetricsBucket, RouteTable } from '../proxy/types.ts';
import type { AgentInfo } from './agent-server.ts';
import { agentPaths, tailFile } from './paths.ts';

export type { AgentInfo } from './agent-server.ts';

/** An error answered by the agent (status and code from its body), or a transport failure (status 0). */
export class AgentError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentError';
    this.status = status;
    this.code = code;
  }
}

export interface AgentClientOptions {
  /** Per-request timeout, except stopRevision and shutdown. Default 15 000. */
  readonly timeoutMs?: number;
  /** Timeout of stopRevision and shutdown, which wait for processes to exit. Default 600 000. */
  readonly stopTimeoutMs?: number;
}

interface RequestOptions {
  readonly body?: unknown;
  readonly timeoutMs?: number;
}

export class AgentClient {
  readonly socketPath: string;
  readonly #agent: http.Agent;
  readonly #timeoutMs: number;
  readonly #stopTimeoutMs: number;

  constructor(socketPath: string, options: AgentClientOptions = {}) {
    this.socketPath = socketPath;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    this.#stopTimeoutMs = options.stopTimeoutMs ?? 600_000;
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: 16, keepAliveMsecs: 1000 });
  }

  static forDataDir(dataDir: string, options?: AgentClientOptions): AgentClient {
    return new AgentClient(agentPaths(dataDir).socket, options);
  }

  info(options: { timeoutMs?: number } = {}): Promise<AgentInfo> {
    return this.#request('GET', '/v1/info', options);
  }

  startInstance(spec: InstanceSpec): Promise<Instance> {
    return this.#request('PUT', '/v1/instances', { body: spec });
  }

  listInstances(app?: string): Promise<Instance[]> {
    return this.#request('GET', `/v1/instances${query({ app })}`);
  }

  async stopRevision(app: string, revision: number): Promise<void> {
    await this.#request('POST', '/v1/revisions/stop', {
      body: { app, revision },
      timeoutMs: this.#stopTimeoutMs,
    });
  }

  logs(app: string, options: { revision?: number; tail?: number } = {}): Promise<LogLine[]> {
    return this.#request('GET', `/v1/logs${query({ app, revision: options.revision, tail: options.tail })}`);
  }

  /** CPU, memory and error lines per second of the app's instances; starts measuring them for a while. */
  usage(app: string, wanted: UsageQuery): Promise<UsageRead> {
    return this.#request(
      'GET',
      `/v1/usage${query({ app, since: wanted.sinceSecond, errorPattern: wanted.errorPattern })}`,
    );
  }

  /** Puts the table in force; resolves once every proxy worker serves it. */
  async setRoutes(table: RouteTable): Promise<AppliedTable> {
    const { inForceAt } = await this.#request<{ inForceAt: number }>('PUT', '/v1/routes', { body: table });
    return { inForceAt };
  }

  /** The table the data plane serves for an app, or undefined. */
  async routes(app: string): Promise<RouteTable | undefined> {
    try {
      return await this.#request<RouteTable>('GET', `/v1/routes${query({ app })}`);
    } catch (error) {
      if (error instanceof AgentError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** Every table the agent has applied (as persisted in routes.json). */
  allRoutes(): Promise<RouteTable[]> {
    return this.#request('GET', '/v1/routes');
  }

  async deleteRoutes(app: string): Promise<void> {
    await this.#request('DELETE', `/v1/routes${query({ app })}`);
  }

  metrics(app: string, sinceSecond: number): Promise<MetricsBucket[]> {
    return this.#request('GET', `/v1/metrics${query({ app, since: sinceSecond })}`);
  }

  async inflight(app: string, revision: number): Promise<number> {
    const { inflight } = await this.#request<{ inflight: number }>(
      'GET',
      `/v1/inflight${query({ app, revision })}`,
    );
    return inflight;
  }

  /** Stops every instance and the data plane; the agent exits after answering. */
  async shutdown(): Promise<void> {
    await this.#request('POST', '/v1/shutdown', { timeoutMs: this.#stopTimeoutMs });
  }

  /** Drops the pooled connections (the agent keeps running). */
  close(): void {
    this.#agent.destroy();
  }

  async #request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    try {
      return await this.#once<T>(method, path, options);
    } catch (error) {
      // A pooled connection the agent closed (it restarted, or its keep-alive timed out): retry
      // once on a fresh one when the request is safe to repeat.
      if (
        error instanceof AgentError &&
        error.status === 0 &&
        (error.code === 'ECONNRESET' || error.code === 'EPIPE') &&
        method !== 'POST'
      ) {
        return this.#once<T>(method, path, options);
      }
      throw error;
    }
  }

  #once<T>(method: string, path: string, options: RequestOptions): Promise<T> {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    return new Promise<T>((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          path,
          method,
          agent: this.#agent,
          headers: {
            accept: 'application/json',
            ...(payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (error) => reject(transportError(method, path, error)));
          res.on('end', () => {
            clearTimeout(timer);
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown;
            try {
              body = text === '' ? undefined : JSON.parse(text);
            } catch {
              body = undefined;
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              resolve(body as T);
              return;
            }
            const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
            const code = typeof error?.code === 'string' ? error.code : `http_${status}`;
            const message = typeof error?.message === 'string' ? error.message : text || `HTTP ${status}`;
            reject(new AgentError(status, code, `agent: ${method} ${path}: ${message}`));
          });
        },
      );
      const timer = setTimeout(() => {
        req.destroy(
          new AgentError(0, 'ETIMEDOUT', `agent: ${method} ${path}: no answer within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      req.on('error', (error) => {
        clearTimeout(timer);
        reject(error instanceof AgentError ? error : transportError(method, path, error));
      });
      req.end(payload);
    });
  }
}

function transportError(method: string, path: string, error: Error): AgentError {
  const code = (error as NodeJS.ErrnoException).code ?? 'EAGENT';
  return new AgentError(0, code, `agent: ${method} ${path}: ${error.message}`, { cause: error });
}

function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}

export interface EnsureAgentOptions {
  /** How long to wait for a new agent to answer. Default 10 000. */
  readonly timeoutMs?: number;
  /** Proxy workers of a new agent. */
  readonly workers?: number;
  /** Environment of a new agent (and so of its instances). Default: ours without REWIND_* (child-env.ts). */
  readonly env?: NodeJS.ProcessEnv;
  readonly client?: AgentClientOptions;
}

export const AGENT_MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

/**
 * The agent of a data dir: the one that answers on its socket (adopted: true), or a new one,
 * spawned detached so that it outlives this process (adopted: false).
 */
export async function ensureAgent(
  dataDir: string,
  options: EnsureAgentOptions = {},
): Promise<{ client: AgentClient; adopted: boolean }> {
  const paths = agentPaths(dataDir);
  mkdirSync(paths.dataDir, { recursive: true, mode: 0o700 });
  const client = new AgentClient(paths.socket, options.client);
  try {
    await client.info({ timeoutMs: 2000 });
    return { client, adopted: true };
  } catch {
    // nobody home: start one
  }

  const args = [AGENT_MAIN, '--data-dir', paths.dataDir];
  if (options.workers !== undefined) args.push('--workers', String(options.workers));
  const log = openSync(paths.log, 'a', 0o600);
  chmodSync(paths.log, 0o600);
  let exit: { code: number | null; signal: string | null } | null = null;
  try {
    const child = spawn(process.execPath, args, {
      cwd: paths.dataDir,
      env: options.env ?? childEnv(),
      detached: true,
      stdio: ['ignore', log, log],
    });
    child.on('error', () => {});
    child.once('exit', (code, signal) => {
      exit = { code, signal };
    });
    child.unref();
  } finally {
    closeSync(log);
  }

  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let exitedAt: number | null = null;
  for (;;) {
    try {
      await client.info({ timeoutMs: 1000 });
      // Ours, or another controller's that won a race (ours then exited with code 3).
      return { client, adopted: false };
    } catch {}
    const now = Date.now();
    if (exit && exitedAt === null) exitedAt = now;
    // An agent that exited may have lost a race to one that is still starting: wait a little.
    if ((exitedAt !== null && now - exitedAt > 2000) || now > deadline) {
      client.close();
      const state = exit as { code: number | null; signal: string | null } | null;
      const why = state
        ? `the agent exited (${state.code !== null ? `code ${state.code}` : `signal ${state.signal}`})`
        : `the agent did not answer on ${paths.socket} within ${timeoutMs} ms`;
      const tail = tailFile(paths.log, 10);
      throw new Error(`${why}; see ${paths.log}${tail ? `:\n${tail}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
