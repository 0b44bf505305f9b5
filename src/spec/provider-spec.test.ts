// The metrics: block: builtin by default; prometheus with its server and queries; each mistake named
// with its field and the fix.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_PROMETHEUS_QUERIES, metricsSpecSchema } from './provider-spec.ts';

test('builtin by default, with nothing else', () => {
  assert.deepEqual(metricsSpecSchema.parse(undefined), { type: 'builtin' });
  assert.deepEqual(metricsSpecSchema.parse({ type: 'builtin' }), { type: 'builtin' });
});

test('prometheus: the URL given, the rest defaulted; each setting as written', () => {
  assert.deepEqual(metricsSpecSchema.parse({ type: 'prometheus', url: 'http://127.0.0.1:9090' }), {
    type: 'prometheus',
    url: 'http://127.0.0.1:9090',
    scrapeInterval: 1000,
    timeout: 2000,
    queries: DEFAULT_PROMETHEUS_QUERIES,
    revisionLabel: 'revision',
  });
  const m = metricsSpecSchema.parse({
    type: 'prometheus',
    url: 'https://prom.internal:9090/prometheus/',
    scrapeInterval: '15s',
    timeout: '5s',
    queries: { requests: 'sum by (pod_revision, pod) (requests_total{svc="{{ app }}"})' },
    revisionLabel: 'pod_revision',
    targetsFile: 'prometheus/shop.json',
  });
  assert.ok('url' in m);
  assert.equal(m.scrapeInterval, 15_000);
  assert.equal(m.timeout, 5000);
  assert.equal(m.queries.requests, 'sum by (pod_revision, pod) (requests_total{svc="{{ app }}"})');
  assert.equal(m.queries.errors, DEFAULT_PROMETHEUS_QUERIES.errors, 'a query left out keeps its default');
  assert.equal(m.revisionLabel, 'pod_revision');
  assert.equal(m.targetsFile, 'prometheus/shop.json');
});

test('a mistake names the field, the value and the fix', () => {
  const cases: [unknown, string, RegExp][] = [
    [
      { type: 'prometheus' },
      'url',
      /needs the server's URL; write for example url: http:\/\/127\.0\.0\.1:9090/,
    ],
    [{ type: 'prometheus', url: 'ftp://x' }, 'url', /not an http\(s\) URL/],
    [
      { type: 'prometheus', url: 'http://p:9090', scrapeInterval: 'often' },
      'scrapeInterval',
      /"often" is not a duration/,
    ],
    [
      { type: 'prometheus', url: 'http://p:9090', scrapeInterval: '10m' },
      'scrapeInterval',
      /longer than a 5m scrape interval/,
    ],
    [
      { type: 'prometheus', url: 'http://p:9090', queries: { errors: 'x{rev="{{revision}}"}' } },
      'queries.errors',
      /\{\{revision\}\} is not a placeholder; a query may hold \{\{app\}\}/,
    ],
    [
      { type: 'prometheus', url: 'http://p:9090', queries: { requests: ' ' } },
      'queries.requests',
      /an empty query/,
    ],
    [{ type: 'prometheus', url: 'http://p:9090', queries: { rate: 'x' } }, 'queries', /rate/],
    [
      { type: 'prometheus', url: 'http://p:9090', revisionLabel: 'rev-no' },
      'revisionLabel',
      /a Prometheus label name/,
    ],
    [{ url: 'http://p:9090' }, 'url', /url is a setting of metrics\.type prometheus, not of "builtin"/],
  ];
  for (const [input, path, message] of cases) {
    const r = metricsSpecSchema.safeParse(input);
    assert.equal(r.success, false, JSON.stringify(input));
    const issue = r.error!.issues.find((i) => i.path.join('.') === path);
    assert.ok(issue, `${JSON.stringify(input)}: no issue at ${path}: ${JSON.stringify(r.error!.issues)}`);
    assert.match(issue.message, message);
  }
});
