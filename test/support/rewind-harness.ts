// Runs a real `rewind server` (and through it a real agent, proxy and app processes) for
// end-to-end tests, and the real CLI against it.
import { type ChildProcess, spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/rewind.js');

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Harness {
  readonly dir: string;
  readonly apiUrl: string;
  /** The OFREP worker's listener (--ofrep-port), e.g. http://127.0.0.1:PORT. */
  readonly ofrepUrl: string;
  readonly appUrl: string;
  readonly appPort: number;
  readonly configFile: string;
  /** The server's data dir. */
  readonly dataDir: string;
  /** The admin token the server wrote into <dataDir>/admin.token. */
  readonly token: string;
  server: ChildProcess;
  /** fetch() with the admin token (and content-type: application/json when there is a body). */
  fetch(url: string, init?: RequestInit): Promise<Response>;
  output(): string;
  cli(...args: string[]): Promise<CliResult>;
  /** Start the server again (after kill) on the same data dir and ports. */
  restart(): Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
  close(): Promise<void>;
}

/**
 * rewind.yaml for examples/shop on `appPort`: fast health checks, a short bake, one pre-promotion check.
 * The probe and start timeouts are generous: on a loaded box a healthy process can take over 500 ms
 * to answer, and a test that acts on a deploy while it waits for health needs the wait to last.
 */
export function shopConfig(appPort: number, options: { checks?: boolean; bake?: string } = {}): string {
  const checks = options.checks === false ? '[]' : '\n          - http: { path: /products }';
  return `apps:
  - name: shop
    listen: 127.0.0.1:${appPort}
    run:
      command: \${SHOP_NODE:-node} ${join(ROOT, 'examples/shop/server.js')}
      env: { SHOP_VERSION: "\${version}" }
      instances: 2
      stopTimeout: 2s
    health: { path: /healthz, interval: 100ms, timeout: 2s, startTimeout: 15s }
    routing: { stickyHeader: x-user-id }
    strategy:
      blueGreen:
        prePromotionChecks: ${checks}
        bake: ${options.bake ?? '300ms'}
        keepPreviousWarm: 1m
        drainTimeout: 2s
`;
}

/** shopConfig with a canary that sets 40% and pauses until promoted, then 100%. */
export function canaryShopConfig(appPort: number): string {
  return shopConfig(appPort).replace(
    /strategy:\n {6}blueGreen:\n {8}prePromotionChecks: ?\n {10}- http: \{ path: \/products \}\n/,
    'strategy:\n      canary:\n        steps: [ { setWeight: 40 }, { pause: {} }, { setWeight: 100 } ]\n',
  );
}

/**
 * rewind.yaml for one examples/shop instance named `name` on `appPort`, fast health checks;
 * `rest` (strategy:, analysis:, ... indented under the app) follows.
 */
export function oneShopConfig(appPort: number, rest = '', name = 'shop'): string {
  return `apps:
  - name: ${name}
    listen: 127.0.0.1:${appPort}
    run:
      command: node ${join(ROOT, 'examples/shop/server.js')}
      env: { SHOP_VERSION: "\${version}" }
      instances: 1
      stopTimeout: 2s
    health: { path: /healthz, interval: 100ms, timeout: 2s, startTimeout: 5s }
${rest}`;
}

/**
 * A canary for oneShopConfig's `rest`: 50%, a pause until promoted, then 100%; more settings of
 * the strategy (drainTimeout...) or the app (analysis:...) may follow it.
 */
export const pausingCanary = `    strategy:
      canary:
        steps: [ { setWeight: 50 }, { pause: {} }, { setWeight: 100 } ]
        bake: 200ms
        keepPreviousWarm: 1m
`;

export async function startRewind(
  options: {
    config?: (appPort: number) => string;
    env?: Record<string, string>;
    /** Writes files beside rewind.yaml before the server starts. */
    setup?: (dir: string) => void;
  } = {},
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'rewind-e2e-'));
  const appPort = await freePort();
  const apiPort = await freePort();
  const ofrepPort = await freePort();
  const configFile = join(dir, 'rewind.yaml');
  writeFileSync(configFile, (options.config ?? shopConfig)(appPort));
  options.setup?.(dir);
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const dataDir = join(dir, 'data');
  let log = '';
  const launch = async () => {
    const child = spawn(
      process.execPath,
      [
        BIN,
        'server',
        '--config',
        configFile,
        '--data-dir',
        dataDir,
        '--port',
        String(apiPort),
        '--ofrep-port',
        String(ofrepPort),
      ],
      {
        // Not `dir`: processesIn(dir) must find the app instances only.
        cwd: ROOT,
        env: { ...process.env, REWIND_LOG_LEVEL: 'warn', ...options.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    // A safety net, not a measure: a start takes seconds on a quiet box and can take tens of
    // seconds on a box loaded by several test suites.
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`rewind server exited ${child.exitCode}:\n${log}`);
      const ok = await fetch(`${apiUrl}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      );
      // Ours once it wrote its token: a port taken by another suite's server answers /healthz too.
      if (ok && existsSync(join(dataDir, 'admin.token'))) break;
      if (Date.now() > deadline) {
        // Not left running: its pipes would keep the test process alive after the failure.
        child.kill('SIGKILL');
        stopAgentOf(dataDir);
        throw new Error(`rewind server did not answer within 60s:\n${log}`);
      }
      await sleep(100);
    }
    return child;
  };
  const server = await launch();
  let token: string;
  try {
    token = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  } catch (err) {
    // Not left running: a failed start must not keep the test process alive.
    server.kill('SIGKILL');
    stopAgentOf(dataDir);
    throw err;
  }
  const h: Harness = {
    dir,
    apiUrl,
    ofrepUrl: `http://127.0.0.1:${ofrepPort}`,
    appUrl: `http://127.0.0.1:${appPort}`,
    appPort,
    configFile,
    dataDir,
    token,
    server,
    fetch: (url, init = {}) =>
      fetch(url, {
        ...init,
        headers: {
          authorization: `Bearer ${token}`,
          ...(init.body !== undefined && { 'content-type': 'application/json' }),
          ...(init.headers as Record<string, string> | undefined),
        },
      }),
    output: () => log,
    cli: (...args) => runCli(args, apiUrl, dataDir),
    async restart() {
      h.server = await launch();
    },
    async kill(signal) {
      if (h.server.exitCode !== null || h.server.signalCode !== null) return;
      const exited = new Promise((r) => h.server.once('exit', r));
      h.server.kill(signal);
      await exited;
    },
    async close() {
      if (h.server.exitCode === null && h.server.signalCode === null) {
        // A server that does not stop on SIGTERM in time is a failure of its own test; do not hang.
        const server = h.server;
        const force = setTimeout(() => server.kill('SIGKILL'), 15_000);
        await h.kill('SIGTERM');
        clearTimeout(force);
      }
      // A server killed with SIGKILL leaves its agent serving: stop it through its pid file.
      const pid = stopAgentOf(join(dir, 'data'));
      for (let i = 0; pid && i < 50 && alive(pid); i++) await sleep(100);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

/** Sends SIGTERM to the agent named by <dataDir>/agent.pid, if any; returns its pid (0: none). */
function stopAgentOf(dataDir: string): number {
  try {
    const pid = Number(readFileSync(join(dataDir, 'agent.pid'), 'utf8'));
    if (pid) process.kill(pid, 'SIGTERM');
    return pid;
  } catch {
    return 0;
  }
}

/** The CLI as a user runs it: no token given by hand, it reads <dataDir>/admin.token. */
export function runCli(
  args: string[],
  apiUrl: string,
  dataDir?: string,
  env: Record<string, string> = {},
): Promise<CliResult> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, REWIND_URL: apiUrl, ...(dataDir && { REWIND_DATA_DIR: dataDir }), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => res({ code: code ?? -1, stdout, stderr }));
  });
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The server's role on a shared store (/healthz `role`): leader, follower, or undefined (alone, or not answering). */
export async function roleOf(h: Pick<Harness, 'apiUrl'>): Promise<'leader' | 'follower' | undefined> {
  const res = await fetch(`${h.apiUrl}/healthz`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
  const body = (await res?.json().catch(() => null)) as { role?: 'leader' | 'follower' } | null | undefined;
  return body?.role;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Keep-alive load on a URL from `concurrency` loops until stopped; counts every failure. */
export function startLoad(url: string, concurrency = 8) {
  let running = true;
  const stats = { ok: 0, failed: 0, versions: new Map<string, number>(), errors: [] as string[] };
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      try {
        const res = await fetch(url);
        const body = await res.text();
        if (res.status === 200) {
          stats.ok++;
          const v = res.headers.get('x-shop-version') ?? '?';
          stats.versions.set(v, (stats.versions.get(v) ?? 0) + 1);
        } else {
          stats.failed++;
          if (stats.errors.length < 5) stats.errors.push(`${res.status} ${body.slice(0, 100)}`);
        }
      } catch (err) {
        stats.failed++;
        if (stats.errors.length < 5)
          stats.errors.push(String((err as Error & { cause?: Error }).cause ?? err));
      }
    }
  });
  return {
    stats,
    async stop() {
      running = false;
      await Promise.all(loops);
      return stats;
    },
  };
}

/** Pids of live processes whose working directory is `dir` (the app instances of a harness). */
export function processesIn(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (
        readlinkSync(`/proc/${entry}/cwd`) === dir &&
        !readFileSync(`/proc/${entry}/stat`, 'utf8').includes(') Z ')
      )
        pids.push(Number(entry));
    } catch {}
  }
  return pids.sort((a, b) => a - b);
}
