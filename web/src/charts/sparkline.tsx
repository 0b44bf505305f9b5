// A sparkline: one metric of each revision over the last minutes, no axes; the figures beside it
// say the current values. It stretches to its box, so its strokes keep their width by CSS.
import type { Sample } from '../live/series.ts';
import { linearScale, linePath, niceCeiling } from './scale.ts';

export interface SparkLine {
  readonly key: string;
  readonly tone: 'stable' | 'canary' | 'other';
  readonly samples: readonly Sample[];
}

const W = 100;
const H = 28;

export function Sparkline({
  lines,
  label,
  floor,
}: {
  lines: readonly SparkLine[];
  label: string;
  floor: number;
}) {
  const values = lines.flatMap((l) => l.samples.flatMap((s) => (s.v === null ? [] : [s.v])));
  const max = niceCeiling(Math.max(floor, ...values));
  const first = lines[0]?.samples[0]?.t ?? 0;
  const last = lines[0]?.samples[lines[0].samples.length - 1]?.t ?? 1;
  const x = linearScale([first, last], [0, W]);
  const y = linearScale([0, max], [H - 1, 1]);
  return (
    <svg
      className="sparkline"
      viewBox={`0 0 ${W} ${H}`}
      preserveAspectRatio="none"
      role="img"
      aria-label={label}
    >
      <title>{label}</title>
      {lines.map((l) => (
        <path
          key={l.key}
          className={`spark rev-${l.tone}`}
          d={linePath(l.samples.map((s) => ({ x: x(s.t), y: s.v === null ? null : y(s.v) })))}
        />
      ))}
    </svg>
  );
}
