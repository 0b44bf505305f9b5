// The agent: a long-lived process per data dir that owns the data plane and the app instances
// (its children), and serves a small JSON API on <dataDir>/agent.sock. The controller may die and
// come back at any time; the agent keeps serving and is adopted by the next controller.

import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { pidAlive } from '../../../shared/pid-alive.ts';
import { ProcessSupervisor, type SupervisorOptions } from '../process-runtime/supervisor.ts';
import type { DataPlane, DataPlaneHealth, RouteTable } from '../proxy/types.ts';
import { AGENT_VERSION, type AgentPaths, agentPaths } from './paths.ts';
import {
  BadRequest,
  intParam,
  parseBody,
  parseInstanceSpec,
  parseRouteTable,
  requiredParam,
  stopRevisionSchema,
} from './schemas.ts';

export interface AgentInfo {
  readonly pid: number;
  readonly startedAt: number;
  readonly version: string;
  readonly dataDir: string;
  /** Its proxy workers; null until the data plane starts (with the first route table). */
  readonly dataPlane: DataPlaneHealth | null;
  /** Apps whose route table it serves. */
  readonly routes: number;
}

export interface AgentServerOptions {
  readonly dataDir: string;
  /** A ready data plane (tests). Default: createDataPlane() from ../proxy/data-plane.ts, loaded lazily. */
  readonly dataPlane?: DataPlane;
  /** How to create the data plane when none is given. */
  readonly loadDataPlane?: () => Promise<DataPlane>;
  /** Proxy workers, passed to createDataPlane. */
  readonly workers?: number;
  readonly supervisor?: Omit<SupervisorOptions, 'dataDir'>;
  readonly log?: (message: string) => void;
  /** Called once the agent has shut down after POST /v1/shutdown (main.ts exits there). */
  readonly onShutdown?: () => void;
}

export class AgentAlreadyRunning extends Error {
  readonly pid: number | null;
  constructor(message: string, pid: number | null) {
    super(message);
    this.name = 'AgentAlreadyRunning';
    this.pid = pid;
  }
}

class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** A route table may carry a maintenance page of 256 KiB, up to six times that as JSON. */
const MAX_BODY = 4 * 1024 * 1024;
const KNOWN_PATHS = new Set([
  '/v1/info',
  '/v1/instances',
  '/v1/revisions/stop',
  '/v1/logs',
  '/v1/usage',
  '/v1/routes',
  '/v1/metrics',
  '/v1/inflight',
  '/v1/shutdown',
]);

export async function loadBuiltinDataPlane(
  workers?: number,
  log?: (message: string) => void,
): Promise<DataPlane> {
  // Resolved at run time so that this file type-checks and loads before the proxy (../proxy/) exists.
  const specifier = new URL('../proxy/data-plane.ts', import.meta.url).href;
  const mod = (await import(specifier)) as {
    createDataPlane?: (options?: { workers?: number; log?: (message: string) => void }) => Promise<DataPlane>;
  };
  if (typeof mod.createDataPlane !== 'function') throw new Error(`${specifier} exports no createDataPlane`);
  return mod.createDataPlane({ ...(workers !== undefined && { workers }), ...(log && { log }) });
}

export class AgentServer {
  readonly paths: AgentPaths;
  readonly startedAt = Date.now();
  readonly supervisor: ProcessSupervisor;
  readonly #server: http.Server;
  readonly #log: (message: string) => void;
  readonly #loadDataPlane: () => Promise<DataPlane>;
  readonly #onShutdown: (() => void) | undefined;
  #dataPlane: Promise<DataPlane> | null = null;
  #dataPlaneValue: DataPlane | null = null;
  /** The tables last applied, persisted to routes.json. */
  readonly #tables = new Map<string, RouteTable>();
  #restored: Promise<void> = Promise.resolve();
  #routeQueue: Promise<unknown> = Promise.resolve();
  #routesDirty = false;
  #routesWrite: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;
  #closing: Promise<void> | null = null;

  private constructor(options: AgentServerOptions, paths: AgentPaths) {
    this.paths = paths;
    this.#log = options.log ?? (() => {});
    this.#onShutdown = options.onShutdown;
    const given = options.dataPlane;
    this.#loadDataPlane = given
      ? () => Promise.resolve(given)
      : (options.loadDataPlane ?? (() => loadBuiltinDataPlane(options.workers, this.#log)));
    this.supervisor = new ProcessSupervisor({
      warn: (message) => this.#log(`warning: ${message}`),
      ...options.supervisor,
      dataDir: paths.dataDir,
    });
    this.#server = http.createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => this.#log(`request failed: ${String(error)}`));
    });
    this.#server.keepAliveTimeout = 60_000;
  }

  /**
   * Takes the data dir (refusing if a live agent answers on its socket), listens, and re-applies
   * the persisted routes. Throws AgentAlreadyRunning if another agent owns the data dir.
   */
  static async start(options: AgentServerOptions): Promise<AgentServer> {
    const paths = agentPaths(options.dataDir);
    await mkdir(paths.dataDir, { recursive: true });
    const live = await probeAgent(paths.socket);
    if (live)
      throw new AgentAlreadyRunning(`an agent (pid ${live.pid}) already serves ${paths.socket}`, live.pid);
    takePidFile(paths);
    let agent: AgentServer;
    try {
      removeIfExists(paths.socket);
      agent = new AgentServer(options, paths);
      await agent.#listen();
    } catch (error) {
      releasePidFile(paths);
      throw error;
    }
    agent.#restored = agent.#restoreRoutes();
    return agent;
  }

  info(): AgentInfo {
    return {
      pid: process.pid,
      startedAt: this.startedAt,
      version: AGENT_VERSION,
      dataDir: this.paths.dataDir,
      dataPlane: this.#dataPlaneValue?.health?.() ?? null,
      routes: this.#tables.size,
    };
  }

  /** Stops the instances, closes the data plane and the socket. Idempotent. */
  async shutdown(): Promise<void> {
    await this.#stopWorkloads();
    await this.#close();
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  async #listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.paths.socket, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    await chmod(this.paths.socket, 0o600);
    this.#log(`listening on ${this.paths.socket} (pid ${process.pid}, version ${AGENT_VERSION})`);
  }

  #stopWorkloads(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#log('stopping instances');
      await this.supervisor.shutdown();
      const dataPlane =
        this.#dataPlaneValue ?? (this.#dataPlane ? await this.#dataPlane.catch(() => null) : null);
      if (dataPlane) {
        this.#log('closing the data plane');
        await dataPlane.close().catch((error: unknown) => this.#log(`data plane close: ${String(error)}`));
      }
    })();
    return this.#stopping;
  }

  #close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      this.#server.closeIdleConnections();
      setTimeout(() => this.#server.closeAllConnections(), 1000).unref();
      await closed;
      await this.flushRoutes();
      removeIfExists(this.paths.socket);
      releasePidFile(this.paths);
      this.#log('agent stopped');
    })();
    return this.#closing;
  }

  // ---- data plane ------------------------------------------------------------------------------

  #getDataPlane(): Promise<DataPlane> {
    if (this.#stopping)
      return Promise.reject(new ApiError(503, 'shutting_down', 'the agent is shutting down'));
    if (!this.#dataPlane) {
      const loading = this.#loadDataPlane();
      this.#dataPlane = loading;
      loading.then(
        (dataPlane) => {
          this.#dataPlaneValue = dataPlane;
        },
        (error: unknown) => {
          // Retry on the next call.
          if (this.#dataPlane === loading) this.#dataPlane = null;
          this.#log(`data plane unavailable: ${error instanceof Error ? error.message : String(error)}`);
        },
      );
    }
    return this.#dataPlane.catch((error: unknown) => {
      throw new ApiError(
        503,
        'data_plane_unavailable',
        `data plane unavailable: ${error instanceof Error ? error.message : String(error)}`,
      );
    });
  }

  async #restoreRoutes(): Promise<void> {
    let saved: RouteTable[] = [];
    try {
      const raw = JSON.parse(readFileSync(this.paths.routes, 'utf8')) as unknown;
      saved = (Array.isArray(raw) ? raw : []).flatMap((table: unknown) => {
        try {
          return [parseRouteTable(table)];
        } catch {
          return [];
        }
      });
    } catch {
      return;
    }
    if (saved.length === 0) return;
    for (const table of saved) this.#tables.set(table.app, table);
    try {
      const dataPlane = await this.#getDataPlane();
      for (const table of saved) {
        await dataPlane.setRoutes(table).then(
          () => this.#log(`re-applied routes of ${table.app} (version ${table.version})`),
          (error: unknown) => this.#log(`cannot re-apply routes of ${table.app}: ${String(error)}`),
        );
      }
    } catch (error) {
      this.#log(`cannot re-apply routes: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /**
   * Writes routes.json behind the answer: a switch is in force once the workers have it, and the
   * file only lets a restarted agent serve before the controller re-applies every table. Writes
   * are coalesced (one in flight, the latest tables next) and flushed before the agent closes.
   */
  #persistRoutes(): void {
    this.#routesDirty = true;
    this.#routesWrite ??= this.#writeRoutes().finally(() => {
      this.#routesWrite = null;
    });
  }

  async #writeRoutes(): Promise<void> {
    // Let the answer go out before the file work starts.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#routesDirty) {
      this.#routesDirty = false;
      const tmp = `${this.paths.routes}.${process.pid}.tmp`;
      try {
        await writeFile(tmp, `${JSON.stringify([...this.#tables.values()], null, 2)}\n`, { mode: 0o600 });
        await rename(tmp, this.paths.routes);
      } catch (error) {
        this.#log(
          `cannot write ${this.paths.routes}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
  }

  /** Resolves once routes.json holds every table applied so far. */
  async flushRoutes(): Promise<void> {
    while (this.#routesWrite) await this.#routesWrite;
  }

  /** Route changes run one at a time, in arrival order. */
  #serialRoutes<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#routeQueue.then(() => this.#restored).then(fn);
    this.#routeQueue = run.catch(() => {});
    return run;
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    const route = `${req.method} ${url.pathname}`;
    try {
      const result = await this.#route(route, url.searchParams, req, res);
      if (result === undefined) return; // the handler answered
      send(res, 200, result);
    } catch (error) {
      if (error instanceof ApiError)
        send(res, error.status, { error: { code: error.code, message: error.message } });
      else if (error instanceof BadRequest)
        send(res, 400, { error: { code: 'bad_request', message: error.message } });
      else {
        const message = error instanceof Error ? error.message : String(error);
        this.#log(`${route}: ${message}`);
        send(res, 500, { error: { code: 'internal', message } });
      }
    }
  }

  async #route(
    route: string,
    query: URLSearchParams,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): Promise<unknown> {
    switch (route) {
      case 'GET /v1/info':
        return this.info();

      case 'PUT /v1/instances': {
        const spec = parseInstanceSpec(await readJson(req));
        if (this.#stopping) throw new ApiError(503, 'shutting_down', 'the agent is shutting down');
        return this.supervisor.start(spec);
      }
      case 'GET /v1/instances':
        return this.supervisor.list(query.get('app') || undefined);
      case 'POST /v1/revisions/stop': {
        const { app, revision } = parseBody(stopRevisionSchema, await readJson(req));
        await this.supervisor.stopRevision(app, revision);
        return { ok: true };
      }
      case 'GET /v1/logs': {
        const app = requiredParam(query, 'app');
        const revision = intParam(query, 'revision');
        const tail = intParam(query, 'tail');
        return this.supervisor.logs(app, {
          ...(revision === undefined ? {} : { revision }),
          ...(tail === undefined ? {} : { tail }),
        });
      }
      case 'GET /v1/usage': {
        const app = requiredParam(query, 'app');
        const sinceSecond = intParam(query, 'since') ?? 0;
        const errorPattern = query.get('errorPattern') ?? undefined;
        return this.supervisor.usage(app, { sinceSecond, errorPattern });
      }

      case 'PUT /v1/routes': {
        const table = parseRouteTable(await readJson(req));
        return this.#serialRoutes(async () => {
          const dataPlane = await this.#getDataPlane();
          const applied = await dataPlane.setRoutes(table).catch((error: unknown) => {
            throw new ApiError(
              422,
              'routes_rejected',
              error instanceof Error ? error.message : String(error),
            );
          });
          this.#tables.set(table.app, table);
          this.#persistRoutes();
          this.#log(`routes of ${table.app}: version ${table.version}`);
          return { ok: true, app: table.app, version: table.version, inForceAt: applied.inForceAt };
        });
      }
      case 'GET /v1/routes': {
        const app = query.get('app');
        await this.#restored;
        if (!app) return [...this.#tables.values()];
        const dataPlane = await this.#getDataPlane();
        const table = dataPlane.routes(app);
        if (!table) throw new ApiError(404, 'not_found', `no routes for app ${app}`);
        return table;
      }
      case 'DELETE /v1/routes': {
        const app = requiredParam(query, 'app');
        return this.#serialRoutes(async () => {
          const dataPlane = await this.#getDataPlane();
          await dataPlane.removeApp(app);
          this.#tables.delete(app);
          this.#persistRoutes();
          this.#log(`routes of ${app} removed`);
          return { ok: true };
        });
      }
      case 'GET /v1/metrics': {
        const app = requiredParam(query, 'app');
        const since = intParam(query, 'since') ?? 0;
        return (await this.#getDataPlane()).metrics(app, since);
      }
      case 'GET /v1/inflight': {
        const app = requiredParam(query, 'app');
        const revision = intParam(query, 'revision', true);
        return { inflight: (await this.#getDataPlane()).inflight(app, revision) };
      }

      case 'POST /v1/shutdown': {
        this.#log('shutdown requested');
        await this.#stopWorkloads();
        res.once('finish', () => {
          this.#close().then(() => this.#onShutdown?.());
        });
        send(res, 200, { ok: true });
        return undefined;
      }
    }
    if (KNOWN_PATHS.has(route.slice(route.indexOf(' ') + 1))) {
      throw new ApiError(405, 'method_not_allowed', `${route} is not allowed`);
    }
    throw new ApiError(404, 'not_found', `no such endpoint: ${route}`);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ApiError(413, 'too_large', `request body over ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new BadRequest('a JSON body is required');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BadRequest(`invalid JSON: ${(error as Error).message}`);
  }
}

/** GET /v1/info on a socket; null if nothing answers. */
export function probeAgent(socketPath: string, timeoutMs = 2000): Promise<AgentInfo | null> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/v1/info', timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        try {
          const info = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AgentInfo;
          resolve(res.statusCode === 200 && typeof info.pid === 'number' ? info : null);
        } catch {
          resolve(null);
        }
      });
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

function removeIfExists(file: string): void {
  try {
    unlinkSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** The pid file doubles as a lock: created exclusively, taken over only from a dead owner. */
function takePidFile(paths: AgentPaths): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(paths.pid, `${process.pid}\n`, { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let owner = Number.NaN;
    try {
      owner = Number.parseInt(readFileSync(paths.pid, 'utf8'), 10);
    } catch {}
    if (Number.isInteger(owner) && owner !== process.pid && pidAlive(owner) && looksLikeAgent(owner)) {
      throw new AgentAlreadyRunning(`another agent (pid ${owner}) holds ${paths.pid}`, owner);
    }
    removeIfExists(paths.pid);
  }
  throw new AgentAlreadyRunning(`another agent is starting in ${paths.dataDir}`, null);
}

function looksLikeAgent(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--data-dir');
  } catch {
    return true; // no /proc: assume it is
  }
}

function releasePidFile(paths: AgentPaths): void {
  try {
    if (Number.parseInt(readFileSync(paths.pid, 'utf8'), 10) === process.pid) unlinkSync(paths.pid);
  } catch {}
}
