// Shared pieces of the end-to-end benchmarks bench/zero-downtime.ts and bench/switch.ts: a real
// `rewind server` (through the e2e harness), a small API client that deploys, rolls back and waits
// for rollouts, and a keep-alive load generator that records the outcome of every request.
import http from 'node:http';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { type Harness, ROOT, shopConfig, startRewind } from '../../test/support/rewind-harness.ts';

/** Wall-clock milliseconds with sub-millisecond resolution (comparable with the server's Date.now()). */
export const nowMs = (): number => performance.timeOrigin + performance.now();

/**
 * The shop app of the harness with the cycle shortened: no pre-promotion checks and no bake, so a
 * deploy is start + wait healthy + switch. The previous revision stays warm, so rollbacks are
 * pure traffic switches.
 */
export function benchConfig(appPort: number): string {
  return shopConfig(appPort, { checks: false, bake: '0s' });
}

/** Starts rewind, and closes it on exit, SIGINT and SIGTERM (every process it started goes with it). */
export async function startBenchRewind(
  config: (appPort: number) => string = benchConfig,
  options: { env?: Record<string, string> } = {},
): Promise<Harness & { closeOnce(): Promise<void> }> {
  const h = await startRewind({ config, ...(options.env && { env: options.env }) });
  let closing: Promise<void> | null = null;
  const closeOnce = () => {
    closing ??= h.close().catch((err) => console.error('cleanup failed:', err));
    return closing;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: stopping rewind...`);
    void closeOnce().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return Object.assign(h, { closeOnce });
}

export interface RolloutRecord {
  readonly id: string;
  readonly kind: 'deploy' | 'rollback';
  readonly phase: string;
  readonly fromRevision: number | null;
  readonly toRevision: number;
  readonly error?: string | null;
}

export interface EventRecord {
  readonly id: number;
  readonly at: number;
  readonly type: string;
  readonly message: string;
  readonly data: unknown;
}

export const TERMINAL = new Set(['Completed', 'RolledBack', 'Failed']);

export class ApiClient {
  readonly base: string;
  // A dedicated keep-alive agent: the API calls do not queue behind the load's sockets.
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

  readonly #token: string | undefined;

  constructor(apiUrl: string, token?: string) {
    this.base = apiUrl;
    this.#token = token;
  }

  async call<T>(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const res = await request(`${this.base}${path}`, {
      method,
      agent: this.#agent,
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: {
        ...(this.#token && { authorization: `Bearer ${this.#token}` }),
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
    });
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body);
    } catch {
      parsed = res.body;
    }
    return { status: res.status, body: parsed as T };
  }

  async post<T>(path: string, body: unknown, expect = 202): Promise<T> {
    const r = await this.call<T>('POST', path, body);
    if (r.status !== expect) throw new Error(`POST ${path} -> ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async get<T>(path: string): Promise<T> {
    const r = await this.call<T>('GET', path);
    if (r.status !== 200) throw new Error(`GET ${path} -> ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  deploy(version: string): Promise<RolloutRecord> {
    return this.post<RolloutRecord>('/api/v1/apps/shop/deploy', { version });
  }

  rollback(reason = 'bench'): Promise<RolloutRecord> {
    return this.post<RolloutRecord>('/api/v1/apps/shop/rollback', { reason });
  }

  events(rolloutId: string): Promise<EventRecord[]> {
    return this.get<EventRecord[]>(`/api/v1/rollouts/${rolloutId}/events`);
  }

  async status(): Promise<{
    stableRevision: number | null;
    stableVersion: string | null;
    activeRollout: RolloutRecord | null;
  }> {
    return this.get('/api/v1/apps/shop');
  }

  /** Polls a rollout until it ends; throws unless it Completed. */
  async waitRollout(rollout: RolloutRecord, timeoutMs = 30_000, pollMs = 10): Promise<RolloutRecord> {
    const deadline = Date.now() + timeoutMs;
    let r = rollout;
    while (!TERMINAL.has(r.phase)) {
      if (Date.now() > deadline)
        throw new Error(`rollout ${r.id} (${r.kind}) still ${r.phase} after ${timeoutMs}ms`);
      await sleep(pollMs);
      r = await this.get<RolloutRecord>(`/api/v1/rollouts/${r.id}`);
    }
    if (r.phase !== 'Completed') {
      const events = await this.events(r.id).catch(() => []);
      const tail = events.map((e) => `  ${e.type}: ${e.message}`).join('\n');
      throw new Error(`rollout ${r.id} (${r.kind}) ended ${r.phase}: ${r.error ?? ''}\n${tail}`);
    }
    return r;
  }

  /** Waits until the app has a stable revision and no rollout in progress (the initial deploy). */
  async waitIdle(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.status().catch(() => null);
      if (s && s.stableRevision !== null && s.activeRollout === null) return;
      if (Date.now() > deadline) throw new Error('app shop did not become idle');
      await sleep(50);
    }
  }

  close(): void {
    this.#agent.destroy();
  }
}

function request(
  url: string,
  options: { method: string; agent: http.Agent; body?: string; headers: Record<string, string> },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method, agent: options.agent, headers: options.headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One request of the load. Times are wall-clock ms (see nowMs). */
export interface Sample {
  readonly sentAt: number;
  readonly doneAt: number;
  readonly status: number;
  readonly version: string | null;
  readonly error: string | null;
}

export interface PhaseCounts {
  requests: number;
  failed: number;
}

/**
 * Keep-alive GET loops on `url` (one socket per loop) that record every request's outcome. Failed
 * requests (non-2xx, or an error) are kept in full; the others are counted per phase and, when
 * `keepSamples` is on, kept as samples (for the switch analysis).
 */
export class LoadRecorder {
  readonly url: string;
  readonly connections: number;
  readonly agent: http.Agent;
  phase = 'idle';
  readonly phases = new Map<string, PhaseCounts>();
  readonly versions = new Map<string, number>();
  readonly failures: (Sample & { phase: string })[] = [];
  samples: Sample[] = [];
  keepSamples = false;
  /** Pause of each loop between two requests (0: closed loop, as fast as the server answers). */
  intervalMs = 0;
  requests = 0;
  failed = 0;
  #running = false;
  #loops: Promise<void>[] = [];

  constructor(url: string, connections: number) {
    this.url = url;
    this.connections = connections;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  }

  start(): void {
    this.#running = true;
    this.#loops = Array.from({ length: this.connections }, () => this.#loop());
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
    this.agent.destroy();
  }

  /** Empties the kept samples and returns them. */
  takeSamples(): Sample[] {
    const s = this.samples;
    this.samples = [];
    return s;
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      const sample = await this.#one();
      this.requests++;
      const phase = this.phase;
      let counts = this.phases.get(phase);
      if (!counts) {
        counts = { requests: 0, failed: 0 };
        this.phases.set(phase, counts);
      }
      counts.requests++;
      const ok = sample.error === null && sample.status >= 200 && sample.status < 300;
      if (!ok) {
        this.failed++;
        counts.failed++;
        if (this.failures.length < 1000) this.failures.push({ ...sample, phase });
        // Do not spin on a listener that refuses connections.
        if (sample.error !== null) await sleep(1);
      } else {
        const v = sample.version ?? '?';
        this.versions.set(v, (this.versions.get(v) ?? 0) + 1);
      }
      if (this.keepSamples) this.samples.push(sample);
      if (this.intervalMs > 0) await sleep(this.intervalMs);
    }
  }

  #one(): Promise<Sample> {
    const sentAt = nowMs();
    return new Promise((resolve) => {
      let settled = false;
      const done = (status: number, version: string | null, error: string | null) => {
        if (settled) return;
        settled = true;
        resolve({ sentAt, doneAt: nowMs(), status, version, error });
      };
      const req = http.get(this.url, { agent: this.agent }, (res) => {
        const version = res.headers['x-shop-version'];
        res.on('data', () => {});
        res.on('end', () => done(res.statusCode ?? 0, typeof version === 'string' ? version : null, null));
        res.on('error', (err) => done(res.statusCode ?? 0, null, describe(err)));
        res.on('aborted', () => done(res.statusCode ?? 0, null, 'response aborted'));
      });
      req.setTimeout(10_000, () => req.destroy(new Error('request timed out after 10s')));
      req.on('error', (err) => done(0, null, describe(err)));
    });
  }
}

function describe(err: Error & { code?: string }): string {
  return err.code ? `${err.code}: ${err.message}` : err.message;
}

// ---------- command line and reporting ----------

/** `--name N` or `--name=N`: a positive integer (or zero when `allowZero`). */
export function intFlag(args: string[], name: string, fallback: number, allowZero = false): number {
  const i = args.indexOf(`--${name}`);
  const eq = args.find((a) => a.startsWith(`--${name}=`));
  if (i < 0 && !eq) return fallback;
  const value = i >= 0 ? args[i + 1] : eq!.slice(name.length + 3);
  const n = Number(value);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) {
    throw new Error(`--${name} needs a ${allowZero ? 'non-negative' : 'positive'} integer, got "${value}"`);
  }
  return n;
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

export interface Summary {
  readonly n: number;
  readonly min: number;
  readonly median: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export function summarize(values: readonly number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return {
    n: s.length,
    min: s[0] ?? Number.NaN,
    median: quantile(s, 0.5),
    p90: quantile(s, 0.9),
    p99: quantile(s, 0.99),
    max: s[s.length - 1] ?? Number.NaN,
    mean,
  };
}

export const round = (n: number, digits = 1): number => Number(n.toFixed(digits));

/** A plain aligned text table. */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [header, ...rows].map((r) => r.map((c) => String(c)));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]?.length ?? 0)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join(
    '\n',
  );
}

/** Summaries rounded for a JSON report. */
export function roundSummary(s: Summary) {
  return {
    median: round(s.median, 2),
    p90: round(s.p90, 2),
    p99: round(s.p99, 2),
    max: round(s.max, 2),
    min: round(s.min, 2),
  };
}

/** Named summaries as a text table: median, p90, p99, max, min. */
export function summaryTable(rows: readonly (readonly [string, Summary])[]): string {
  return table(
    ['measure', 'median', 'p90', 'p99', 'max', 'min'],
    rows.map(([name, s]) => [name, round(s.median), round(s.p90), round(s.p99), round(s.max), round(s.min)]),
  );
}

export function commandLine(): string {
  return `node ${process.argv
    .slice(1)
    .map((a, i) => (i === 0 ? a.replace(`${ROOT}/`, '') : a))
    .join(' ')}`;
}

/** CPU count and load averages: other work on the machine skews these end-to-end figures. */
export function machine(): { cpus: number; loadavg: number[] } {
  return { cpus: cpus().length, loadavg: loadavg().map((l) => round(l, 2)) };
}

export function machineLine(m: { cpus: number; loadavgAtStart: number[]; loadavgAtEnd: number[] }): string {
  return `machine: ${m.cpus} CPUs, load average (1/5/15 min) ${m.loadavgAtStart.join(' ')} at start, ${m.loadavgAtEnd.join(' ')} at end`;
}
