import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EvidencePoint } from './evidence.ts';
import type { Incident } from './incident.ts';
import {
  BAD_COLOR,
  type ChartInput,
  incidentChart,
  niceCeil,
  RESTORED_COLOR,
  renderChart,
  valueSteps,
} from './render-chart.ts';

const T = Date.UTC(2024, 0, 15, 14, 30, 0);
const S = T / 1000;

const point = (second: number, errorRate: number | null, p99: number | null): EvidencePoint => ({
  second,
  requests: errorRate === null ? 0 : 100,
  errors: errorRate === null ? 0 : Math.round(errorRate * 100),
  errorRate,
  p50: p99,
  p95: p99,
  p99,
});

/** Checks that `svg` is well-formed XML (one root, nested tags, quoted attributes, escaped text). */
function assertWellFormed(svg: string): void {
  const stack: string[] = [];
  let roots = 0;
  const tokens = svg.split(/(<[^>]*>)/).filter((t) => t !== '');
  for (const token of tokens) {
    if (!token.startsWith('<')) {
      assert.ok(!/[<>]|&(?!(amp|lt|gt|quot|apos);)/.test(token), `raw markup in text: ${token}`);
      assert.ok(stack.length > 0 || token.trim() === '', `text outside the root: ${token}`);
      continue;
    }
    const m = /^<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>$/.exec(token);
    assert.ok(m, `malformed tag: ${token}`);
    const [, closing, name, attrs, selfClosing] = m!;
    for (const [, value] of attrs!.matchAll(/="([^"]*)"/g))
      assert.ok(!/&(?!(amp|lt|gt|quot|apos);)/.test(value!), `raw & in ${token}`);
    if (closing) assert.equal(stack.pop(), name, `</${name}> closes another element`);
    else if (!selfClosing) {
      if (stack.length === 0) roots++;
      stack.push(name!);
    } else if (stack.length === 0) roots++;
  }
  assert.deepEqual(stack, [], 'every element is closed');
  assert.equal(roots, 1, 'one root element');
}

interface Element {
  readonly name: string;
  readonly attrs: Record<string, string>;
  readonly text: string;
}

function elements(svg: string): Element[] {
  return [...svg.matchAll(/<(\w+)((?:\s+[\w:-]+="[^"]*")*)\s*(?:\/>|>([^<]*)<\/\1>|>)/g)].map((m) => ({
    name: m[1]!,
    attrs: Object.fromEntries([...m[2]!.matchAll(/([\w:-]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!])),
    text: m[3] ?? '',
  }));
}

const base: ChartInput = {
  title: 'shop: v2 and v1',
  series: [
    {
      label: 'v2 (revision 4, rolled back)',
      color: BAD_COLOR,
      points: Array.from({ length: 20 }, (_, i) => point(S + 10 + i, i < 5 ? 0 : 0.7, 40 + i)),
    },
    {
      label: 'v1 (revision 3, restored)',
      color: RESTORED_COLOR,
      points: Array.from({ length: 40 }, (_, i) => point(S + i, 0.01, 12)),
    },
  ],
  markers: [
    { at: T + 29_500, label: 'decision', color: '#000000', dash: '4 3' },
    { at: T + 30_100, label: 'traffic switched back', color: '#2ca02c', dash: '2 2' },
  ],
  threshold: { panel: 'errorRate', value: 0.6, label: 'threshold 60%' },
};

const dashed = (svg: string, dash: string) =>
  elements(svg).filter((e) => e.name === 'line' && e.attrs['stroke-dasharray'] === dash);

test('chart table: well-formed, no NaN, thresholds in their panel, markers across both panels', () => {
  const cases: {
    name: string;
    input: ChartInput;
    threshold: { y: string; label: string } | null;
    markers: string[];
  }[] = [
    {
      name: 'an error-rate rule: the line at 60% of a 0..100% panel',
      input: base,
      // Panel from y=94 to 224: 60% of 130 px above the bottom.
      threshold: { y: '146', label: 'threshold 60%' },
      markers: ['decision 14:30:29', 'traffic switched back 14:30:30'],
    },
    {
      name: 'a p95 latency rule: in the latency panel, named as p95',
      input: { ...base, threshold: { panel: 'latency', value: 50, label: 'threshold p95 50 ms' } },
      // Highest value 59 ms -> a 0..100 ms panel from y=268 to 398: 50 ms half way.
      threshold: { y: '333', label: 'threshold p95 50 ms' },
      markers: ['decision 14:30:29', 'traffic switched back 14:30:30'],
    },
    {
      name: 'no threshold to draw (a request-rate rule, a manual rollback), no marker',
      input: { ...base, threshold: null, markers: [] },
      threshold: null,
      markers: [],
    },
    {
      name: 'nothing but empty seconds: still a chart, and no NaN',
      input: {
        title: 'empty',
        series: [{ label: 'v2', color: BAD_COLOR, points: [point(S, null, null), point(S + 1, null, null)] }],
        markers: [{ at: T, label: 'decision', color: '#000000', dash: '4 3' }],
        threshold: { panel: 'errorRate', value: 0.05, label: 'threshold 5%' },
      },
      // A 0..10% panel: 5% half way.
      threshold: { y: '159', label: 'threshold 5%' },
      markers: ['decision 14:30:00'],
    },
  ];
  for (const c of cases) {
    const svg = renderChart(c.input);
    assertWellFormed(svg);
    assert.ok(
      !/NaN|Infinity|undefined/.test(svg),
      `${c.name}: ${svg.match(/.{40}(NaN|Infinity|undefined).{20}/)}`,
    );
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'), c.name);
    assert.ok(!/\n\s*\n/.test(svg), `${c.name}: a blank line ends a Markdown HTML block`);
    assert.ok(!/<script|<style|\bon\w+=|href=|\bid=|\bclass=/.test(svg), `${c.name}: self-contained`);
    const thresholds = dashed(svg, '6 4').filter(
      (l) => l.attrs.x1 !== undefined && l.attrs.y1 === l.attrs.y2,
    );
    if (c.threshold) {
      assert.ok(
        thresholds.some((l) => l.attrs.y1 === c.threshold!.y && l.attrs.x1 === '64' && l.attrs.x2 === '688'),
        `${c.name}: ${JSON.stringify(thresholds)}`,
      );
      assert.ok(
        elements(svg).some((e) => e.name === 'text' && e.text === c.threshold!.label),
        c.name,
      );
    } else assert.deepEqual(thresholds, [], c.name);
    const labels = elements(svg)
      .filter((e) => e.name === 'text')
      .map((e) => e.text);
    for (const m of c.markers) assert.ok(labels.includes(m), `${c.name}: ${m} in ${labels}`);
    const verticals = elements(svg).filter(
      (e) =>
        e.name === 'line' && ['4 3', '2 2'].includes(e.attrs['stroke-dasharray']!) && e.attrs.y1 === '94',
    );
    assert.equal(verticals.length, c.markers.length, c.name);
    for (const v of verticals) {
      assert.equal(v.attrs.x1, v.attrs.x2);
      assert.equal(v.attrs.y2, '398', 'down through both panels');
    }
  }
});

test('axes carry their units and the time in UTC', () => {
  const texts = elements(renderChart(base))
    .filter((e) => e.name === 'text')
    .map((e) => e.text);
  for (const t of ['0%', '50%', '100%', '0 ms', '50 ms', '100 ms', 'time (UTC)', '14:30:00', '14:30:30'])
    assert.ok(texts.includes(t), `${t} in ${texts.join(' | ')}`);
  assert.ok(texts.some((t) => /^Error rate \(%/.test(t)));
  assert.ok(texts.some((t) => /^p99 latency \(ms/.test(t)));
  for (const s of base.series) assert.ok(texts.includes(s.label), 'the legend names each series');
});

test('a line breaks where a revision had no traffic; a lone second is a dot', () => {
  const svg = renderChart({
    ...base,
    series: [
      {
        label: 'v2',
        color: BAD_COLOR,
        points: [S, S + 1, S + 3, S + 4, S + 7].map((s) => point(s, 0.5, 10)),
      },
    ],
  });
  const paths = elements(svg).filter((e) => e.name === 'path' && e.attrs.stroke === BAD_COLOR);
  assert.equal(paths.length, 2, 'one path per panel');
  for (const p of paths) assert.equal(p.attrs.d!.match(/M/g)!.length, 2, p.attrs.d);
  assert.equal(elements(svg).filter((e) => e.name === 'circle' && e.attrs.fill === BAD_COLOR).length, 2);
});

test('the same series draw the same bytes; text is escaped', () => {
  const input = { ...base, title: 'shop: <v2> & "v1"' };
  assert.equal(renderChart(input), renderChart(input));
  const svg = renderChart(input);
  assert.ok(svg.includes('<title>shop: &lt;v2&gt; &amp; &quot;v1&quot;</title>'));
  assertWellFormed(svg);
});

test('value axes step on round values: 4 steps up to 1 and 2 x 10^k, 5 up to 2.5 and 5', () => {
  const cases: [number, string][] = [
    [90, '0 ms 25 ms 50 ms 75 ms 100 ms'],
    [190, '0 ms 50 ms 100 ms 150 ms 200 ms'],
    [230, '0 ms 50 ms 100 ms 150 ms 200 ms 250 ms'],
    [4.5, '0 ms 1 ms 2 ms 3 ms 4 ms 5 ms'],
  ];
  for (const [p99, labels] of cases) {
    const svg = renderChart({
      ...base,
      threshold: null,
      series: [{ label: 'v2', color: BAD_COLOR, points: [point(S, 0, p99)] }],
    });
    const axis = elements(svg)
      .filter((e) => e.name === 'text' && / ms$/.test(e.text))
      .map((e) => e.text);
    assert.equal(axis.join(' '), labels, String(p99));
  }
  assert.deepEqual([1, 2, 2.5, 5, 0.01, 250].map(valueSteps), [4, 4, 5, 5, 4, 5]);
});

test('niceCeil: 1, 2, 2.5, 5 x 10^k', () => {
  const cases: [number, number][] = [
    [0, 1],
    [-3, 1],
    [Number.NaN, 1],
    [0.7, 1],
    [1, 1],
    [1.2, 2],
    [2.2, 2.5],
    [3, 5],
    [63, 100],
    [100, 100],
    [101, 200],
  ];
  for (const [v, expected] of cases) assert.equal(niceCeil(v), expected, String(v));
});

test("the incident's chart: its versions, the decision and the switch back, its rule's threshold", () => {
  const incident = {
    app: 'shop',
    revisions: { from: { number: 3, version: 'v1' }, to: { number: 4, version: 'v2' } },
    trigger: { kind: 'rule', metric: 'latencyP99', threshold: 250, message: 'p99 above 250ms' },
    rollback: {
      startedAt: T + 29_500,
      trafficRestoredAt: T + 30_100,
      completedAt: T + 31_000,
      durationMs: 1500,
    },
    evidence: {
      decision: { at: T + 29_500, event: 'analysis.decision', message: null },
      series: {
        from: T,
        to: T + 40_000,
        revisions: [
          { revision: 4, role: 'bad', points: base.series[0]!.points },
          { revision: 3, role: 'restored', points: base.series[1]!.points },
        ],
      },
    },
  } as unknown as Incident;
  const svg = incidentChart(incident)!;
  assertWellFormed(svg);
  const texts = elements(svg).map((e) => e.text);
  for (const t of [
    'v2 (revision 4, rolled back)',
    'v1 (revision 3, restored)',
    'decision 14:30:29',
    'traffic switched back 14:30:30',
    'threshold p99 250 ms',
  ])
    assert.ok(texts.includes(t), t);
  const noPoints = {
    ...incident,
    evidence: { series: { from: T, to: T, revisions: [{ revision: 4, role: 'bad', points: [] }] } },
  } as unknown as Incident;
  assert.equal(incidentChart(noPoints), null);
});
