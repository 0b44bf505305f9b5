// The judgment's verdict over a rollout: a strip on the charts' time axis, one band per verdict,
// and the same as a list in words.
import { clock, duration } from '../format.ts';
import { VERDICT_TEXT, type VerdictSegment } from '../rollouts/verdict-timeline.ts';
import { coord, linearScale } from './scale.ts';
import { CHART_MARGIN } from './time-chart.tsx';
import { useWidth } from './use-width.ts';

export function VerdictStrip({
  from,
  to,
  segments,
}: {
  from: number;
  to: number;
  segments: readonly VerdictSegment[];
}) {
  const [ref, width] = useWidth<HTMLDivElement>(640);
  const x = linearScale([from, to], [CHART_MARGIN.left, width - CHART_MARGIN.right]);
  const xAt = (ms: number) => Math.min(width - CHART_MARGIN.right, Math.max(CHART_MARGIN.left, x(ms / 1000)));
  return (
    <figure className="verdicts" ref={ref}>
      <figcaption>Judgment over time</figcaption>
      <svg
        width={width}
        height={26}
        role="img"
        aria-label="The analysis verdict over time"
        data-testid="verdicts"
      >
        <title>The analysis verdict over time</title>
        <rect
          className="verdict-none"
          x={CHART_MARGIN.left}
          y={4}
          width={Math.max(0, width - CHART_MARGIN.left - CHART_MARGIN.right)}
          height={18}
        />
        {segments.map((s) => (
          <rect
            key={s.from}
            className={`verdict-${s.verdict}`}
            x={coord(xAt(s.from))}
            y={4}
            width={coord(Math.max(2, xAt(s.to) - xAt(s.from)))}
            height={18}
          >
            <title>{`${VERDICT_TEXT[s.verdict]}: ${s.message}`}</title>
          </rect>
        ))}
      </svg>
      {segments.length === 0 ? (
        <p className="quiet">No analysis: the new revision took no traffic.</p>
      ) : (
        <ol className="verdict-list">
          {segments.map((s) => (
            <li key={s.from}>
              <span className={`dot verdict-${s.verdict}`} aria-hidden="true" /> {clock(s.from)} for{' '}
              {duration(s.to - s.from)}: <strong>{VERDICT_TEXT[s.verdict]}</strong>{' '}
              <span className="quiet">{s.message}</span>
            </li>
          ))}
        </ol>
      )}
    </figure>
  );
}
