// A chart of one metric per revision over time, hand-drawn in SVG at the size it is shown: each
// revision's line, each rule's threshold with its `for` window and the spans that broke it, and
// markers where the rollout's steps, pauses, decisions and rollback happened.

import { clock } from '../format.ts';
import type { BreachSpan, Sample } from '../live/series.ts';
import type { Marker } from '../rollouts/rollout-markers.ts';
import { coord, labelClusters, linearScale, linePath, niceCeiling, timeTicks, valueTicks } from './scale.ts';
import { useWidth } from './use-width.ts';

export interface ChartLine {
  readonly key: string;
  readonly label: string;
  readonly tone: 'stable' | 'canary' | 'other';
  readonly samples: readonly Sample[];
  readonly dashed?: boolean;
}

export interface ChartThreshold {
  readonly name: string;
  readonly value: number;
  /** "errors-critical > 10% for 2s" */
  readonly label: string;
  readonly forSeconds: number;
  readonly breaches: readonly BreachSpan[];
}

export interface TimeChartProps {
  readonly testId: string;
  readonly title: string;
  /** Unix seconds, inclusive. */
  readonly from: number;
  readonly to: number;
  readonly lines: readonly ChartLine[];
  readonly thresholds: readonly ChartThreshold[];
  readonly markers: readonly Marker[];
  readonly format: (v: number) => string;
  /** The least top of the y axis, so that a flat zero line does not fill the chart. */
  readonly floor: number;
}

export const CHART_MARGIN = { left: 56, right: 14, top: 22, bottom: 22 } as const;
const HEIGHT = 210;

/** A time label's anchor: inward near the plot's edges, so that it is not cut. */
const anchorAt = (x: number, width: number) =>
  x > width - CHART_MARGIN.right - 28 ? 'end' : x < CHART_MARGIN.left + 28 ? 'start' : 'middle';

export function TimeChart(props: TimeChartProps) {
  const { testId, title, from, to, lines, thresholds, markers, format, floor } = props;
  const [ref, width] = useWidth<HTMLDivElement>(640);
  const m = CHART_MARGIN;
  const values = lines.flatMap((l) => l.samples.flatMap((s) => (s.v === null ? [] : [s.v])));
  const max = niceCeiling(Math.max(floor, ...values, ...thresholds.map((t) => t.value)) * 1.1);
  const x = linearScale([from, to], [m.left, width - m.right]);
  const y = linearScale([0, max], [HEIGHT - m.bottom, m.top]);
  const shown = markers.filter((k) => k.at / 1000 >= from && k.at / 1000 <= to + 1);
  const labels = labelClusters(
    shown.map((k) => x(k.at / 1000)),
    64,
  );
  const plotTop = m.top;
  const plotBottom = HEIGHT - m.bottom;
  return (
    <figure className="chart" ref={ref}>
      <figcaption>{title}</figcaption>
      <svg data-testid={testId} width={width} height={HEIGHT} role="img" aria-label={title}>
        <title>{title}</title>
        {valueTicks(max).map((v) => (
          <g key={v} className="grid">
            <line x1={m.left} x2={width - m.right} y1={coord(y(v))} y2={coord(y(v))} />
            <text x={m.left - 6} y={y(v) + 4} textAnchor="end">
              {format(v)}
            </text>
          </g>
        ))}
        {timeTicks(from, to, Math.max(2, Math.floor((width - m.left) / 90))).map((t) => (
          <text key={t} className="axis" x={x(t)} y={HEIGHT - 6} textAnchor={anchorAt(x(t), width)}>
            {clock(t * 1000)}
          </text>
        ))}
        {thresholds.flatMap((t) =>
          t.breaches.map((b) => (
            <rect
              key={`${t.name}-${b.from}`}
              className={b.held ? 'breach held' : 'breach'}
              x={coord(x(b.from - 0.5))}
              width={coord(Math.max(2, x(b.to + 0.5) - x(b.from - 0.5)))}
              y={plotTop}
              height={plotBottom - plotTop}
            />
          )),
        )}
        {shown.map((k, i) => (
          <g key={`${k.at}-${k.label}`} className={`marker marker-${k.kind}`}>
            <title>{`${clock(k.at)} ${k.label}: ${k.detail}`}</title>
            <line x1={coord(x(k.at / 1000))} x2={coord(x(k.at / 1000))} y1={plotTop} y2={plotBottom} />
            {labels[i]?.shown && (
              <text x={x(k.at / 1000) + 3} y={12}>
                {k.label}
                {labels[i].more > 0 && ` +${labels[i].more}`}
              </text>
            )}
          </g>
        ))}
        {thresholds.map((t) => {
          const ty = coord(y(t.value));
          const forWidth = Math.min(width - m.left - m.right, x(from + t.forSeconds) - x(from));
          return (
            <g key={t.name} className="threshold">
              <line data-testid={`threshold-${t.name}`} x1={m.left} x2={width - m.right} y1={ty} y2={ty} />
              <path
                className="for-window"
                d={`M${coord(width - m.right - forWidth)} ${coord(y(t.value) + 5)} v-5 h${coord(forWidth)} v5`}
              />
              <text x={width - m.right - 2} y={y(t.value) - 4} textAnchor="end">
                {t.label}
              </text>
            </g>
          );
        })}
        {lines.map((l) => (
          <path
            key={l.key}
            className={`line rev-${l.tone}${l.dashed ? ' dashed' : ''}`}
            d={linePath(l.samples.map((s) => ({ x: x(s.t), y: s.v === null ? null : y(s.v) })))}
          />
        ))}
      </svg>
      <ul className="legend">
        {lines.map((l) => {
          const last = [...l.samples].reverse().find((s) => s.v !== null)?.v;
          return (
            <li key={l.key}>
              <span className={`swatch rev-${l.tone}${l.dashed ? ' dashed' : ''}`} aria-hidden="true" />
              {l.label}: {last === undefined || last === null ? '–' : format(last)}
            </li>
          );
        })}
      </ul>
    </figure>
  );
}
