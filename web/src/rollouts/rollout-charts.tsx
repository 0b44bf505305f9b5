// A rollout's traffic per revision over its window: error rate, latency and request rate, each
// rule's threshold on the chart of its metric, the markers of what happened, and the verdict.
import type { AppDetail, RewindEvent, Rollout, RolloutState, SeriesPoint } from '../api/types.ts';
import { thresholdLabel } from '../apps/rule-text.ts';
import { revisionTone } from '../apps/traffic.ts';
import { type ChartLine, type ChartThreshold, TimeChart } from '../charts/time-chart.tsx';
import { VerdictStrip } from '../charts/verdict-strip.tsx';
import { latency, percent, rate } from '../format.ts';
import type { JudgmentMark } from '../live/live-state.ts';
import {
  breachSpans,
  revisionsIn,
  ruleSeries,
  type SeriesMetric,
  samplesOf,
  summaryOf,
  thresholdOf,
} from '../live/series.ts';
import { markersOf } from './rollout-markers.ts';
import { verdictTimeline } from './verdict-timeline.ts';

interface ChartSpec {
  readonly testId: string;
  readonly title: string;
  readonly metrics: readonly SeriesMetric[];
  readonly format: (v: number) => string;
  readonly floor: number;
}

const CHARTS: readonly ChartSpec[] = [
  { testId: 'chart-error-rate', title: 'Error rate', metrics: ['errorRate'], format: percent, floor: 0.02 },
  {
    testId: 'chart-latency',
    title: 'Latency: p99, and p50 dashed',
    metrics: ['p99', 'p50'],
    format: latency,
    floor: 5,
  },
  {
    testId: 'chart-request-rate',
    title: 'Requests per second',
    metrics: ['requestRate'],
    format: rate,
    floor: 2,
  },
];

export interface RolloutChartsProps {
  readonly rollout: Rollout;
  readonly points: readonly SeriesPoint[];
  readonly rules: AppDetail['rules'];
  readonly events: readonly RewindEvent[];
  readonly marks: readonly JudgmentMark[];
  readonly from: number;
  readonly to: number;
}

export function RolloutCharts({ rollout, points, rules, events, marks, from, to }: RolloutChartsProps) {
  const shown = points.filter((p) => p.second >= from && p.second <= to);
  const revisions = [
    ...new Set([
      ...(rollout.fromRevision === null ? [] : [rollout.fromRevision]),
      rollout.toRevision,
      ...revisionsIn(shown),
    ]),
  ].sort((a, b) => a - b);
  const markers = markersOf(events);
  const state = rollout.state as RolloutState;
  const lineLabel = (r: number) =>
    r === rollout.toRevision ? `r${r} (new)` : r === rollout.fromRevision ? `r${r} (before)` : `r${r}`;

  const linesOf = (spec: ChartSpec): ChartLine[] =>
    spec.metrics.flatMap((metric, i) =>
      revisions.map((r) => ({
        key: `${metric}-${r}`,
        label: spec.metrics.length > 1 ? `${lineLabel(r)} ${metric}` : lineLabel(r),
        tone: revisionTone(r, rollout.fromRevision, rollout.toRevision),
        samples: samplesOf(shown, r, metric, from, to),
        dashed: i > 0,
      })),
    );

  const thresholdsOf = (spec: ChartSpec): ChartThreshold[] =>
    rules.flatMap((rule) => {
      const metric = ruleSeries(rule);
      if (!metric || !spec.metrics.includes(metric)) return [];
      const baseline =
        rollout.fromRevision === null ? null : summaryOf(shown, rollout.fromRevision, metric, from, to);
      const value = thresholdOf(rule, baseline);
      if (value === null) return [];
      // The new revision is the one judged; a rollback's lines have no rule to meet.
      const judged = rollout.kind === 'deploy' ? samplesOf(shown, rollout.toRevision, metric, from, to) : [];
      return [
        {
          name: rule.name,
          value,
          label: thresholdLabel(rule, value),
          forSeconds: rule.forMs / 1000,
          breaches: breachSpans(judged, value, rule.direction, rule.forMs / 1000),
        },
      ];
    });

  const verdicts = verdictTimeline({
    since: state.analysis?.since ?? null,
    end: rollout.finishedAt ?? (to + 1) * 1000,
    events,
    marks,
  });

  return (
    <div className="charts">
      {CHARTS.map((spec) => (
        <TimeChart
          key={spec.testId}
          testId={spec.testId}
          title={spec.title}
          from={from}
          to={to}
          lines={linesOf(spec)}
          thresholds={thresholdsOf(spec)}
          markers={markers}
          format={spec.format}
          floor={spec.floor}
        />
      ))}
      {rollout.kind === 'deploy' && <VerdictStrip from={from} to={to} segments={verdicts} />}
    </div>
  );
}
