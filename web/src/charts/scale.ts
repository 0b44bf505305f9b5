// The arithmetic of the hand-drawn charts: scales, axis ticks and SVG paths. Pure, so that what a
// chart draws can be checked without a browser.

/** Maps `domain` linearly onto `range`; a domain of zero width maps to the range's start. */
export function linearScale(
  domain: readonly [number, number],
  range: readonly [number, number],
): (v: number) => number {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

/** The smallest 1, 2, 2.5 or 5 times a power of ten that is >= v (v <= 0 gives 1). */
export function niceCeiling(v: number): number {
  if (!(v > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(v));
  const step = [1, 2, 2.5, 5, 10].find((s) => s * power >= v * (1 - 1e-12))!;
  return round(step * power);
}

/** `count` + 1 evenly spaced ticks from 0 to max. */
export function valueTicks(max: number, count = 4): number[] {
  return Array.from({ length: count + 1 }, (_, i) => round((max * i) / count));
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21_600, 43_200, 86_400];

/** Seconds between from and to (inclusive) on a round step, at most `max` of them. */
export function timeTicks(from: number, to: number, max = 6): number[] {
  const span = Math.max(1, to - from);
  const step = TIME_STEPS.find((s) => Math.floor(span / s) + 1 <= max) ?? 86_400;
  const ticks: number[] = [];
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) ticks.push(t);
  return ticks;
}

/** A coordinate as the path writes it: one decimal, never an exponent. */
export const coord = (v: number): string => String(Math.round(v * 10) / 10);

/**
 * An SVG path through the points in absolute commands (`M x y L x y ...`); a null y breaks the
 * line, and the next point starts a new piece. A piece of one point is drawn as a dot-long line.
 */
export function linePath(points: readonly { readonly x: number; readonly y: number | null }[]): string {
  const parts: string[] = [];
  let open = false;
  let single: { x: number; y: number } | null = null;
  for (const p of points) {
    if (p.y === null || !Number.isFinite(p.y)) {
      if (single) parts.push(`L${coord(single.x + 0.5)} ${coord(single.y)}`);
      open = false;
      single = null;
      continue;
    }
    parts.push(`${open ? 'L' : 'M'}${coord(p.x)} ${coord(p.y)}`);
    single = open ? null : { x: p.x, y: p.y };
    open = true;
  }
  if (single) parts.push(`L${coord(single.x + 0.5)} ${coord(single.y)}`);
  return parts.join(' ');
}

/**
 * Rows for labels at x positions (sorted) so that labels in one row are at least `gap` apart;
 * past the last row, labels share it.
 */
export function labelRows(xs: readonly number[], gap: number, rows: number): number[] {
  const lastInRow: number[] = [];
  return xs.map((x) => {
    let row = lastInRow.findIndex((last) => x - last >= gap);
    if (row < 0) row = lastInRow.length < rows ? lastInRow.length : rows - 1;
    lastInRow[row] = x;
    return row;
  });
}

const round = (v: number) => Math.round(v * 1e9) / 1e9;
