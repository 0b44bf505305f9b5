// A second load generator for HTTP benchmarks: h2load (Debian's nghttp2-client), written in C on
// libev, so that its own scheduling adds far less to the tail than a Node generator sharing the
// same two cores. `--rps` paces each client; `--log-file` gives every request's latency (from its
// send to the end of its response), from which the percentiles are computed here.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface H2loadRun {
  /** Per request, ms from its send to the end of its response. */
  readonly latencies: number[];
  /** Per request (same order), when it was sent: ms since the epoch. */
  readonly startsMs: number[];
  readonly ok: number;
  readonly errors: number;
  /** Requests per second over the run. */
  readonly achievedRps: number;
}

export function h2loadAvailable(): boolean {
  try {
    execFileSync('h2load', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * POSTs `body` (JSON) to `urls` (one host; h2load takes them round robin) over HTTP/1.1 keep-alive
 * from `clients` connections, each paced at rps / clients, for `seconds`.
 */
export async function h2loadPost(
  urls: readonly string[],
  body: string,
  options: {
    readonly rps: number;
    readonly seconds: number;
    readonly clients?: number;
    /** Extra request headers, e.g. authorization. */
    readonly headers?: Readonly<Record<string, string>>;
    /** Statuses that count as ok; default [200]. */
    readonly okStatuses?: readonly number[];
  },
): Promise<H2loadRun> {
  const clients = options.clients ?? 4;
  const dir = mkdtempSync(join(tmpdir(), 'rewind-h2load-'));
  try {
    const bodyFile = join(dir, 'body.json');
    const logFile = join(dir, 'requests.tsv');
    writeFileSync(bodyFile, body);
    const args = [
      '--h1',
      '-c',
      String(clients),
      '-m',
      '1',
      '--rps',
      String(Math.max(1, Math.round(options.rps / clients))),
      '-D',
      String(options.seconds),
      '-d',
      bodyFile,
      '-H',
      'content-type: application/json',
      ...Object.entries(options.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
      '--log-file',
      logFile,
      ...urls,
    ];
    await new Promise<void>((resolve, reject) =>
      execFile('h2load', args, { maxBuffer: 1 << 24 }, (err, _stdout, stderr) =>
        err ? reject(new Error(`h2load failed: ${err.message}\n${stderr}`)) : resolve(),
      ),
    );
    const latencies: number[] = [];
    const startsMs: number[] = [];
    const okStatuses = options.okStatuses ?? [200];
    let ok = 0;
    let errors = 0;
    let first = Number.POSITIVE_INFINITY;
    let last = 0;
    for (const line of readFileSync(logFile, 'utf8').split('\n')) {
      if (!line) continue;
      const [startUs, status, durationUs] = line.split('\t').map(Number) as [number, number, number];
      latencies.push(durationUs / 1000);
      startsMs.push(startUs / 1000);
      if (okStatuses.includes(status)) ok++;
      else errors++;
      first = Math.min(first, startUs);
      last = Math.max(last, startUs + durationUs);
    }
    const seconds = (last - first) / 1e6;
    return { latencies, startsMs, ok, errors, achievedRps: seconds > 0 ? latencies.length / seconds : 0 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
