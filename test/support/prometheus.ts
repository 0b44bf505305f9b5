// A real Prometheus for the tests of `metrics: prometheus`: Debian's binary, started on a free
// loopback port with a temporary data dir, scraping every second the targets the test writes into a
// file_sd file (each with its labels, e.g. app and revision), and stopped with the test.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './rewind-harness.ts';

export const PROMETHEUS_BIN = process.env.REWIND_PROMETHEUS || '/usr/bin/prometheus';

export interface ScrapeTarget {
  /** host:port */
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface Prometheus {
  readonly url: string;
  /** Replaces the scraped targets (file_sd, re-read within a second). */
  setTargets(targets: readonly ScrapeTarget[]): Promise<void>;
  /** An instant query's vector, as [labels, value] pairs. */
  query(promql: string): Promise<[Record<string, string>, number][]>;
  close(): Promise<void>;
}

/** `targetsFile`: the file_sd file to read (by default one of its own, written by setTargets). */
export async function startPrometheus(options: { targetsFile?: string } = {}): Promise<Prometheus> {
  if (!existsSync(PROMETHEUS_BIN))
    throw new Error(
      `no Prometheus at ${PROMETHEUS_BIN}: the tests of metrics: prometheus need it. Install Debian's (apt-get install -y prometheus) or point REWIND_PROMETHEUS at one.`,
    );
  const dir = await mkdtemp(join(tmpdir(), 'rewind-prometheus-'));
  const targetsFile = options.targetsFile ?? join(dir, 'targets.json');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  if (!options.targetsFile) await writeFile(targetsFile, '[]');
  await writeFile(
    join(dir, 'prometheus.yml'),
    [
      'global: { scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: apps',
      `    file_sd_configs: [{ files: ['${targetsFile}'], refresh_interval: 1s }]`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const hard = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(hard);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'Prometheus ready',
      async () => child.exitCode !== null || (await fetch(`${url}/-/ready`).catch(() => null))?.ok,
      30_000,
    );
    if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${stderr}`);
  } catch (err) {
    await close();
    throw new Error(`${(err as Error).message}; its last words: ${stderr.slice(-1000) || 'none'}`);
  }
  return {
    url,
    async setTargets(targets) {
      const json = JSON.stringify(targets.map((t) => ({ targets: [t.address], labels: t.labels })));
      // Written whole, then renamed: Prometheus never reads half a file.
      await writeFile(`${targetsFile}.tmp`, json);
      await rename(`${targetsFile}.tmp`, targetsFile);
    },
    async query(promql) {
      const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`, {
        signal: AbortSignal.timeout(5000),
      });
      const body = (await res.json()) as {
        data: { result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      return body.data.result.map((r) => [r.metric, Number(r.value[1])]);
    },
    close,
  };
}
