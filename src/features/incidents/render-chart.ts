// The incident's chart: the error rate and the p99 latency of both revisions over time, as one SVG
// that goes inline into the Markdown report. Two panels over one time axis, the decision and the
// switch back as vertical lines, the rule's threshold as a dashed horizontal line in its panel.
// Self-contained (presentation attributes only: no style sheet, script, id, class or external
// reference) and deterministic: the same incident draws the same bytes. Lines break where a
// revision had no traffic, rather than drawing traffic it did not have.

import type { EvidencePoint } from './evidence.ts';
import type { Incident } from './incident.ts';

export interface ChartSeries {
  readonly label: string;
  readonly color: string;
  readonly points: readonly EvidencePoint[];
}

export interface ChartMarker {
  /** Unix ms. */
  readonly at: number;
  readonly label: string;
  readonly color: string;
  readonly dash: string;
}

export interface ChartThreshold {
  readonly panel: 'errorRate' | 'latency';
  /** A ratio (0..1) for errorRate, ms for latency. */
  readonly value: number;
  readonly label: string;
}

export interface ChartInput {
  /** What the chart shows, for people who cannot see it (the SVG's title). */
  readonly title: string;
  readonly series: readonly ChartSeries[];
  readonly markers: readonly ChartMarker[];
  readonly threshold: ChartThreshold | null;
}

const WIDTH = 720;
const HEIGHT = 446;
const LEFT = 64;
const RIGHT = 32;
const PANEL_HEIGHT = 130;
const PANELS = { errorRate: 94, latency: 268 } as const;
const AXIS_Y = PANELS.latency + PANEL_HEIGHT;
const PLOT_WIDTH = WIDTH - LEFT - RIGHT;
const MIN_SPAN_MS = 10_000;
const TEXT = '#333333';
const GRID = '#e4e4e4';

export const BAD_COLOR = '#d62728';
export const RESTORED_COLOR = '#1f77b4';

/** Text and attribute values as XML: a version or a rule name may hold any character. */
export function xmlEscape(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** A coordinate: one decimal, never NaN (a non-finite value is drawn at 0). */
const n = (x: number) => (Number.isFinite(x) ? String(Math.round(x * 10) / 10) : '0');

/** The smallest of 1, 2, 2.5, 5 x 10^k at or above `v` (1 for nothing). */
export function niceCeil(v: number): number {
  if (!Number.isFinite(v) || v <= 0) return 1;
  const e = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * e >= v * (1 - 1e-9)) return m * e;
  return 10 * e;
}

/** Steps of a 0..max axis (max from niceCeil) that fall on round values: 4 for 1 and 2 x 10^k, 5 for 2.5 and 5. */
export function valueSteps(max: number): number {
  const mantissa = Number((max / 10 ** Math.floor(Math.log10(max))).toPrecision(3));
  return mantissa === 2.5 || mantissa === 5 ? 5 : 4;
}

const trim = (x: number) => String(Number(x.toPrecision(3)));
const percent = (ratio: number) => `${trim(ratio * 100)}%`;
const ms = (v: number) => `${trim(v)} ms`;
const clock = (at: number) => new Date(at).toISOString().slice(11, 19);

interface Scale {
  readonly t0: number;
  readonly t1: number;
  x(at: number): number;
}

function timeScale(input: ChartInput): Scale {
  const times = [
    ...input.series.flatMap((s) => s.points.flatMap((p) => [p.second * 1000, (p.second + 1) * 1000])),
    ...input.markers.map((m) => m.at),
  ].filter(Number.isFinite);
  let t0 = times.length ? Math.min(...times) : 0;
  let t1 = times.length ? Math.max(...times) : MIN_SPAN_MS;
  if (t1 - t0 < MIN_SPAN_MS) {
    const pad = (MIN_SPAN_MS - (t1 - t0)) / 2;
    t0 -= pad;
    t1 += pad;
  }
  return { t0, t1, x: (at) => LEFT + ((at - t0) / (t1 - t0)) * PLOT_WIDTH };
}

/** Ticks on whole seconds, at a step of 1-2-5 x 10^k seconds (or minutes) that gives at most 8. */
function timeTicks(scale: Scale): number[] {
  const spanS = (scale.t1 - scale.t0) / 1000;
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  const step = (steps.find((s) => spanS / s <= 8) ?? 3600) * 1000;
  const ticks: number[] = [];
  for (let t = Math.ceil(scale.t0 / step) * step; t <= scale.t1; t += step) ticks.push(t);
  return ticks;
}

interface Panel {
  readonly key: 'errorRate' | 'latency';
  readonly title: string;
  readonly top: number;
  readonly max: number;
  readonly format: (v: number) => string;
  readonly value: (p: EvidencePoint) => number | null;
}

function panels(input: ChartInput): Panel[] {
  const highest = (value: (p: EvidencePoint) => number | null, key: Panel['key']) =>
    Math.max(
      0,
      ...input.series.flatMap((s) => s.points.map((p) => value(p) ?? 0)),
      input.threshold?.panel === key ? input.threshold.value : 0,
    );
  const errorRate = (p: EvidencePoint) => p.errorRate;
  const p99 = (p: EvidencePoint) => p.p99;
  return [
    {
      key: 'errorRate',
      title: 'Error rate (% of requests failed, per second)',
      top: PANELS.errorRate,
      // Percent steps, at most 100%: the rate never exceeds it.
      max: Math.min(1, niceCeil(highest(errorRate, 'errorRate') * 100 * 1.05) / 100) || 1,
      format: percent,
      value: errorRate,
    },
    {
      key: 'latency',
      title: 'p99 latency (ms, per second)',
      top: PANELS.latency,
      max: niceCeil(highest(p99, 'latency') * 1.05),
      format: ms,
      value: p99,
    },
  ];
}

/** A path through the points with a value, broken where a second is missing or has none. */
function linePath(
  points: readonly EvidencePoint[],
  panel: Panel,
  scale: Scale,
): { d: string; dots: string[] } {
  const y = (v: number) => panel.top + PANEL_HEIGHT - (Math.min(v, panel.max) / panel.max) * PANEL_HEIGHT;
  const runs: { x: number; y: number }[][] = [];
  let run: { x: number; y: number }[] = [];
  let last: number | null = null;
  for (const p of points) {
    const v = panel.value(p);
    if (v === null || !Number.isFinite(v) || (last !== null && p.second !== last + 1)) {
      if (run.length) runs.push(run);
      run = [];
    }
    last = p.second;
    if (v !== null && Number.isFinite(v)) run.push({ x: scale.x(p.second * 1000 + 500), y: y(v) });
  }
  if (run.length) runs.push(run);
  const d = runs
    .filter((r) => r.length > 1)
    .map((r) => r.map((pt, i) => `${i ? 'L' : 'M'}${n(pt.x)} ${n(pt.y)}`).join(' '))
    .join(' ');
  const dots = runs.filter((r) => r.length === 1).map((r) => `${n(r[0]!.x)} ${n(r[0]!.y)}`);
  return { d, dots };
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${n(x)}" y="${n(y)}"${attrs ? ` ${attrs}` : ''}>${xmlEscape(content)}</text>`;
}

function drawPanel(panel: Panel, input: ChartInput, scale: Scale, ticks: readonly number[]): string[] {
  const out: string[] = [text(LEFT, panel.top - 8, panel.title, 'font-weight="bold"')];
  const bottom = panel.top + PANEL_HEIGHT;
  const steps = valueSteps(panel.max);
  for (let i = 0; i <= steps; i++) {
    const v = (panel.max * i) / steps;
    const y = bottom - (PANEL_HEIGHT * i) / steps;
    out.push(
      `<line x1="${LEFT}" y1="${n(y)}" x2="${WIDTH - RIGHT}" y2="${n(y)}" stroke="${GRID}" stroke-width="1"/>`,
      text(LEFT - 6, y + 4, panel.format(v), 'text-anchor="end"'),
    );
  }
  for (const t of ticks) {
    const x = scale.x(t);
    out.push(
      `<line x1="${n(x)}" y1="${panel.top}" x2="${n(x)}" y2="${bottom}" stroke="${GRID}" stroke-width="1"/>`,
    );
  }
  out.push(
    `<rect x="${LEFT}" y="${panel.top}" width="${PLOT_WIDTH}" height="${PANEL_HEIGHT}" fill="none" stroke="#999999" stroke-width="1"/>`,
  );
  const threshold = input.threshold;
  if (threshold?.panel === panel.key) {
    const y = bottom - (Math.min(threshold.value, panel.max) / panel.max) * PANEL_HEIGHT;
    out.push(
      `<line x1="${LEFT}" y1="${n(y)}" x2="${WIDTH - RIGHT}" y2="${n(y)}" stroke="#555555" stroke-width="1.5" stroke-dasharray="6 4"/>`,
      text(WIDTH - RIGHT - 4, y - 4, threshold.label, 'text-anchor="end"'),
    );
  }
  for (const s of input.series) {
    const { d, dots } = linePath(s.points, panel, scale);
    if (d)
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8" stroke-linejoin="round"/>`);
    for (const dot of dots) {
      const [cx, cy] = dot.split(' ');
      out.push(`<circle cx="${cx}" cy="${cy}" r="2.2" fill="${s.color}"/>`);
    }
  }
  return out;
}

function drawMarkers(input: ChartInput, scale: Scale): string[] {
  const out: string[] = [];
  input.markers.forEach((m, i) => {
    if (!Number.isFinite(m.at)) return;
    const x = scale.x(m.at);
    const right = x > LEFT + PLOT_WIDTH * 0.75;
    out.push(
      `<line x1="${n(x)}" y1="${PANELS.errorRate}" x2="${n(x)}" y2="${AXIS_Y}" stroke="${m.color}" stroke-width="1.5" stroke-dasharray="${m.dash}"/>`,
      text(
        right ? x - 4 : x + 4,
        PANELS.errorRate + 12 + 12 * i,
        `${m.label} ${clock(m.at)}`,
        [`fill="${m.color}"`, ...(right ? ['text-anchor="end"'] : [])].join(' '),
      ),
    );
  });
  return out;
}

/** The legend in rows of what fits across: each series, the threshold, each marker. */
function drawLegend(input: ChartInput): string[] {
  const out: string[] = [];
  let x = LEFT;
  let y = 42;
  const item = (sample: (x: number, y: number) => string, label: string) => {
    // An estimate of the label's width at 11px sans-serif (no font metrics here).
    const width = 26 + label.length * 6 + 14;
    if (x > LEFT && x + width > WIDTH - RIGHT) {
      x = LEFT;
      y += 16;
    }
    out.push(sample(x, y), text(x + 26, y + 4, label));
    x += width;
  };
  const stroke = (color: string, width: number, dash?: string) =>
    `stroke="${color}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash}"` : ''}`;
  for (const s of input.series)
    item(
      (x, y) => `<line x1="${n(x)}" y1="${y}" x2="${n(x + 20)}" y2="${y}" ${stroke(s.color, 2.5)}/>`,
      s.label,
    );
  if (input.threshold)
    item(
      (x, y) => `<line x1="${n(x)}" y1="${y}" x2="${n(x + 20)}" y2="${y}" ${stroke('#555555', 1.5, '6 4')}/>`,
      'threshold',
    );
  for (const m of input.markers)
    item(
      (x, y) =>
        `<line x1="${n(x + 10)}" y1="${y - 7}" x2="${n(x + 10)}" y2="${y + 7}" ${stroke(m.color, 1.5, m.dash)}/>`,
      m.label,
    );
  return out;
}

/** The chart as one SVG element, one line per shape and no blank line (a raw HTML block in Markdown). */
export function renderChart(input: ChartInput): string {
  const scale = timeScale(input);
  const ticks = timeTicks(scale);
  const shapes = [
    `<rect x="0" y="0" width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    text(LEFT, 22, input.title, 'font-size="13" font-weight="bold"'),
    ...drawLegend(input),
    ...panels(input).flatMap((p) => drawPanel(p, input, scale, ticks)),
    ...drawMarkers(input, scale),
    ...ticks.map((t) => text(scale.x(t), AXIS_Y + 16, clock(t), 'text-anchor="middle"')),
    text(LEFT + PLOT_WIDTH / 2, AXIS_Y + 34, 'time (UTC)', 'text-anchor="middle"'),
  ];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" font-family="sans-serif" font-size="11" fill="${TEXT}">`,
    `<title>${xmlEscape(input.title)}</title>`,
    ...shapes,
    '</svg>',
  ].join('\n');
}

/** The threshold the chart can draw: an error-rate or latency rule's (a p50/p95 one in the p99 panel, named). */
function thresholdOf(incident: Incident): ChartThreshold | null {
  const { metric, threshold } = incident.trigger;
  if (threshold === undefined || !Number.isFinite(threshold)) return null;
  if (metric === 'errorRate')
    return { panel: 'errorRate', value: threshold, label: `threshold ${percent(threshold)}` };
  const latency = /^latencyP(\d+)$/.exec(metric ?? '');
  if (latency)
    return { panel: 'latency', value: threshold, label: `threshold p${latency[1]} ${ms(threshold)}` };
  return null;
}

/** The incident's chart, from its evidence; null when the evidence holds no second to draw. */
export function incidentChart(incident: Incident): string | null {
  const series = incident.evidence?.series.revisions ?? [];
  if (!series.some((s) => s.points.length > 0)) return null;
  const { revisions } = incident;
  const label = (revision: number, role: 'bad' | 'restored') => {
    const ref = role === 'bad' ? revisions.to : revisions.from;
    return `${ref?.version ?? '?'} (revision ${revision}, ${role === 'bad' ? 'rolled back' : 'restored'})`;
  };
  const decidedAt = incident.evidence?.decision?.at ?? null;
  const switchedAt = incident.partialRollback ? null : incident.rollback.trafficRestoredAt;
  const markers: ChartMarker[] = [
    ...(decidedAt === null ? [] : [{ at: decidedAt, label: 'decision', color: '#000000', dash: '4 3' }]),
    ...(switchedAt === null
      ? []
      : [{ at: switchedAt, label: 'traffic switched back', color: '#2ca02c', dash: '2 2' }]),
  ];
  return renderChart({
    title: `${incident.app}: error rate and p99 latency of ${[revisions.to, revisions.from]
      .filter((r) => r !== null)
      .map((r) => r.version)
      .join(' and ')} around the rollback`,
    series: series.map((s) => ({
      label: label(s.revision, s.role),
      color: s.role === 'bad' ? BAD_COLOR : RESTORED_COLOR,
      points: s.points,
    })),
    markers,
    threshold: thresholdOf(incident),
  });
}
