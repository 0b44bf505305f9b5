// `metrics: prometheus` against a real Prometheus (Debian's binary) scraping real targets every
// second: exporters whose counters the test sets, so every count can be checked exactly; then
// examples/shop deployed by a real server whose analysis reads Prometheus, with the instances
// found through the targets file that server writes.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MetricsSample } from '../../src/providers/metrics-source.ts';
import {
  PrometheusMetricsSource,
  type PrometheusSpec,
} from '../../src/providers/prometheus/prometheus-metrics-source.ts';
import { DEFAULT_PROMETHEUS_QUERIES } from '../../src/spec/provider-spec.ts';
import { type Prometheus, startPrometheus } from '../support/prometheus.ts';
import {
  freePort,
  type Harness,
  oneShopConfig,
  startLoad,
  startRewind,
  waitFor,
} from '../support/rewind-harness.ts';

/** A target whose counters the test sets: requests by code, and a latency histogram in seconds. */
class Exporter {
  readonly codes = new Map<string, number>();
  readonly buckets = new Map<string, number>([
    ['0.1', 0],
    ['0.5', 0],
    ['+Inf', 0],
  ]);
  #server: Server | undefined;
  port = 0;

  async start() {
    this.port = await freePort();
    this.#server = createServer((_req, res) => {
      const lines = [...this.codes].map(([code, n]) => `http_requests_total{code="${code}"} ${n}`);
      for (const [le, n] of this.buckets) lines.push(`http_request_duration_seconds_bucket{le="${le}"} ${n}`);
      res.end(`${lines.join('\n')}\n`);
    });
    await new Promise<void>((r) => this.#server!.listen(this.port, '127.0.0.1', r));
    return this;
  }

  /** `n` requests answered `code`, each in the bucket up to `le` seconds. */
  serve(n: number, code: string, le: '0.1' | '0.5' | '+Inf') {
    this.codes.set(code, (this.codes.get(code) ?? 0) + n);
    for (const bound of ['0.1', '0.5', '+Inf'] as const)
      if (bound === le || (le === '0.1' && bound !== '0.1') || (le === '0.5' && bound === '+Inf'))
        this.buckets.set(bound, this.buckets.get(bound)! + n);
  }

  /** The process restarted: every counter back to 0. */
  reset() {
    this.codes.clear();
    for (const le of this.buckets.keys()) this.buckets.set(le, 0);
  }

  close() {
    this.#server?.close();
  }
}

function totals(samples: readonly MetricsSample[], revision: number) {
  const t = { requests: 0, errors: 0, latency: [0, 0, 0], bounds: [] as readonly number[] };
  for (const s of samples)
    for (const r of s.revisions)
      if (r.revision === revision) {
        t.requests += r.requests;
        t.errors += r.errors5xx;
        r.latency.counts.forEach((c, i) => {
          t.latency[i] = (t.latency[i] ?? 0) + c;
        });
        t.bounds = r.latency.boundsMs;
      }
  return t;
}

const spec = (url: string, rest: Partial<PrometheusSpec> = {}): PrometheusSpec => ({
  type: 'prometheus',
  url,
  scrapeInterval: 1000,
  timeout: 2000,
  queries: { ...DEFAULT_PROMETHEUS_QUERIES },
  revisionLabel: 'revision',
  ...rest,
});

describe('the Prometheus metrics source, on exporters the test sets', () => {
  let prom: Prometheus;
  const exporters: Exporter[] = [];

  before(async () => {
    prom = await startPrometheus();
    for (let i = 0; i < 3; i++) exporters.push(await new Exporter().start());
    const [a, b, c] = exporters;
    await prom.setTargets([
      { address: `127.0.0.1:${a!.port}`, labels: { app: 'shop', revision: '1' } },
      { address: `127.0.0.1:${b!.port}`, labels: { app: 'shop', revision: '1' } },
      { address: `127.0.0.1:${c!.port}`, labels: { app: 'shop', revision: '2' } },
    ]);
    await waitFor(
      'three targets up',
      async () => (await prom.query('up{app="shop"} == 1')).length === 3,
      30_000,
    );
  });
  after(async () => {
    for (const e of exporters) e.close();
    await prom?.close();
  });

  test('every request, error and latency bucket counted, per revision, across two instances and a restart', async () => {
    const [a, b, c] = exporters;
    const source = new PrometheusMetricsSource(spec(prom.url));
    const since = Math.floor(Date.now() / 1000);
    a!.serve(30, '200', '0.1');
    b!.serve(10, '200', '0.5');
    b!.serve(2, '503', '+Inf');
    c!.serve(20, '200', '0.1');
    c!.serve(5, '500', '0.5');
    // Revision 2's process restarts: its counters start again from 0; then it serves 7 more.
    await waitFor(
      'the first counts scraped',
      async () => (await source.read('shop', since)).samples.length > 0,
      20_000,
    );
    c!.reset();
    c!.serve(7, '200', '0.1');
    const want = { 1: { requests: 42, errors: 2 }, 2: { requests: 32, errors: 5 } };
    const read = await waitFor(
      'every count read back',
      async () => {
        const r = await source.read('shop', since);
        return (
          r.phase === 'Successful' &&
          totals(r.samples, 1).requests === want[1].requests &&
          totals(r.samples, 2).requests === want[2].requests &&
          r
        );
      },
      20_000,
    );
    assert.equal(read.phase, 'Successful');
    const one = totals(read.samples, 1);
    const two = totals(read.samples, 2);
    assert.deepEqual([one.requests, one.errors], [42, 2]);
    assert.deepEqual([two.requests, two.errors], [32, 5]);
    assert.deepEqual(one.bounds, [100, 500]);
    assert.deepEqual(one.latency, [30, 10, 2], 'up to 100 ms, up to 500 ms, above');
    assert.deepEqual(two.latency, [27, 5, 0]);
    // Idempotent: the same range read again gives the same seconds and counts.
    const again = await source.read('shop', since);
    assert.deepEqual(
      again.samples.filter((s) => s.second <= read.samples.at(-1)!.second),
      read.samples,
    );
    // No second is read before it is complete: the last one is behind now by the scrape interval.
    assert.ok(read.samples.at(-1)!.second <= source.lastCompleteSecond());
  });

  test('an unreachable server, a query Prometheus refuses, and a series without the revision are errors that say so', async () => {
    const since = Math.floor(Date.now() / 1000) - 30;
    const closed = `http://127.0.0.1:${await freePort()}`;
    const down = await new PrometheusMetricsSource(spec(closed)).read('shop', since);
    assert.equal(down.phase, 'Error');
    assert.match(
      down.phase === 'Error' ? down.error : '',
      new RegExp(`Prometheus ${closed} \\(requests query\\): ECONNREFUSED`),
    );

    const bad = await new PrometheusMetricsSource(
      spec(prom.url, {
        queries: { ...DEFAULT_PROMETHEUS_QUERIES, errors: 'sum by (revision) (http_requests_total{' },
      }),
    ).read('shop', since);
    assert.equal(bad.phase, 'Error');
    assert.match(bad.phase === 'Error' ? bad.error : '', /\(errors query\): bad_data: .*parse error/);

    const summed = await waitFor('a summed series', async () => {
      const r = await new PrometheusMetricsSource(
        spec(prom.url, {
          queries: { ...DEFAULT_PROMETHEUS_QUERIES, requests: 'sum(http_requests_total{app="{{app}}"})' },
        }),
      ).read('shop', since);
      return r.phase === 'Error' && r;
    });
    assert.match(
      summed.phase === 'Error' ? summed.error : '',
      /requests query returned a series without the label "revision"/,
    );
  });
});

describe('a release judged on what Prometheus scraped from its instances', () => {
  let prom: Prometheus;
  let h: Harness;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rewind-prom-targets-'));
    const targetsFile = join(dir, 'shop.json');
    prom = await startPrometheus({ targetsFile });
    h = await startRewind({
      config: (port) =>
        oneShopConfig(
          port,
          `    metrics:
      type: prometheus
      url: ${prom.url}
      targetsFile: ${targetsFile}
    strategy:
      canary:
        steps: [ { setWeight: 50 }, { pause: 10s }, { setWeight: 100 } ]
        bake: 1s
        keepPreviousWarm: 1m
    analysis:
      interval: 1s
      canaryJudgment: { enabled: false }
      beforeAfter: { enabled: false }
      rules:
        - { name: errors, metric: errorRate, above: 10%, for: 2s, minSample: 10, severity: P0 }
`,
        ),
    });
    await waitFor('v1 serving', async () => (await fetch(h.appUrl).catch(() => null))?.ok);
  });
  after(async () => {
    await h?.close();
    await prom?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the server writes its instances for Prometheus, and a failing canary is rolled back on what Prometheus saw', async () => {
    // v1's instance, found through the targets file, labelled with app and revision.
    await waitFor(
      'v1 scraped',
      async () => (await prom.query('up{app="shop",revision="1"} == 1')).length === 1,
      30_000,
    );
    const load = startLoad(h.appUrl, 4);
    try {
      const r = await h.cli(
        'deploy',
        'shop',
        '--version',
        'v2',
        '--env',
        'SHOP_ERROR_RATE=0.5',
        '--wait',
        '--json',
      );
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match((JSON.parse(r.stdout) as { error?: string }).error ?? '', /P0 rule errors: error rate/);
    } finally {
      await load.stop();
    }
    // What Prometheus holds is what the rule read: v2's 500s, scraped from v2's own instance.
    // Over the last minutes: v2's series went stale when its instance was stopped.
    const failed = await prom.query(
      'sum by (revision) (max_over_time(http_requests_total{app="shop",code="500"}[5m]))',
    );
    assert.deepEqual(
      failed.map(([labels]) => labels.revision),
      ['2'],
    );
    assert.equal((await fetch(h.appUrl)).headers.get('x-shop-version'), 'v1');
    const incidents = (await (await h.fetch(`${h.apiUrl}/api/v1/incidents`)).json()) as {
      trigger: { rule?: string; metric?: string; observed?: number };
    }[];
    assert.equal(incidents[0]?.trigger.rule, 'errors');
    assert.ok(incidents[0]!.trigger.observed! > 0.1, JSON.stringify(incidents[0]!.trigger));
    // The retired revision leaves the targets file: only v1 is scraped again.
    await waitFor('v2 gone from the targets', async () => {
      const targets = JSON.parse(readFileSync(join(dir, 'shop.json'), 'utf8')) as {
        labels: { revision: string };
      }[];
      return targets.every((t) => t.labels.revision === '1') && targets.length === 1;
    });
  });

  test('a good canary completes under the same rule', async () => {
    const load = startLoad(h.appUrl, 4);
    try {
      const r = await h.cli('deploy', 'shop', '--version', 'v3', '--wait', '--json');
      assert.equal(r.code, 0, r.stdout + r.stderr);
    } finally {
      await load.stop();
    }
    assert.equal((await fetch(h.appUrl)).headers.get('x-shop-version'), 'v3');
  });
});
