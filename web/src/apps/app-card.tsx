// One app on the apps page: its revisions, phase, traffic split, health and the last two minutes
// of traffic per revision, all from the live stream.
import type { AppDetail, SeriesPoint } from '../api/types.ts';
import { type SparkLine, Sparkline } from '../charts/sparkline.tsx';
import { latency, percent, rate, revisionLabel } from '../format.ts';
import { revisionsIn, type SeriesMetric, samplesOf } from '../live/series.ts';
import { Link } from '../router/router.tsx';
import { paths } from '../router/routes.ts';
import { Fact } from '../ui/bits.tsx';
import { AppPhase, HealthFact, StableFact, TrafficFact } from './app-facts.tsx';
import { revisionTone, trafficSplit } from './traffic.ts';

const WINDOW_SECONDS = 120;

const SPARKS: readonly {
  metric: SeriesMetric;
  label: string;
  format: (v: number | null) => string;
  floor: number;
}[] = [
  { metric: 'requestRate', label: 'requests', format: rate, floor: 1 },
  { metric: 'errorRate', label: 'errors', format: percent, floor: 0.01 },
  { metric: 'p99', label: 'p99', format: latency, floor: 1 },
];

export function AppCard({
  detail,
  series,
  now,
}: {
  detail: AppDetail;
  series: readonly SeriesPoint[];
  now: number;
}) {
  const { name, stableRevision: stable } = detail;
  const rollout = detail.activeRollout;
  const candidate = rollout?.toRevision ?? null;
  const split = trafficSplit(detail.traffic, stable);
  const to = Math.max(series[series.length - 1]?.second ?? 0, Math.floor(now / 1000) - 1);
  const from = to - WINDOW_SECONDS + 1;
  const recent = series.filter((p) => p.second >= from);
  const revisions = [...new Set([...split.map((s) => s.revision), ...revisionsIn(recent)])].sort(
    (a, b) => a - b,
  );
  const judgment = detail.analysis?.judgment ?? detail.watch?.judgment ?? null;
  return (
    <article className="card app-card" data-testid={`app-${name}`}>
      <header>
        <h2>
          <Link href={paths.app(name)}>{name}</Link>
        </h2>
        <AppPhase detail={detail} />
      </header>
      <dl className="facts">
        <StableFact detail={detail} />
        {rollout && (
          <Fact label={rollout.kind === 'rollback' ? 'Rolling back to' : 'Rolling out'}>
            <Link href={paths.rollout(name, rollout.id)}>{revisionLabel(rollout.toRevision)}</Link>{' '}
            <span className="quiet">{rollout.strategy}</span>
          </Fact>
        )}
        <TrafficFact detail={detail} />
        <HealthFact detail={detail} />
        {judgment && (
          <Fact label="Judgment" title={judgment.message}>
            {judgment.verdict}
          </Fact>
        )}
      </dl>
      <div className="traffic-bar" aria-hidden="true">
        {split.map((s) => (
          <span
            key={s.revision}
            className={`rev-${revisionTone(s.revision, stable, candidate)}`}
            style={{ width: `${s.weight}%` }}
          />
        ))}
      </div>
      <div className="sparks">
        {SPARKS.map((spark) => {
          const lines: SparkLine[] = revisions.map((r) => ({
            key: String(r),
            tone: revisionTone(r, stable, candidate),
            samples: samplesOf(recent, r, spark.metric, from, to),
          }));
          const current = revisions.map((r) => {
            const last = [...(lines.find((l) => l.key === String(r))?.samples ?? [])]
              .reverse()
              .find((s) => s.v !== null);
            return `r${r} ${spark.format(last?.v ?? null)}`;
          });
          return (
            <div className="spark-row" key={spark.metric}>
              <span className="spark-label">{spark.label}</span>
              <Sparkline
                lines={lines}
                floor={spark.floor}
                label={`${spark.label} over the last 2 minutes: ${current.join(', ')}`}
              />
              <span className="spark-values">{current.join(' · ') || '–'}</span>
            </div>
          );
        })}
      </div>
    </article>
  );
}
