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

/** Ticks from 0 to a niceCeiling max on round steps: 0.5 -> 0, 0.1, ... 0.5; 2 -> 0, 0.5, ... 2. */
export function valueTicks(max: number): number[] {
  const power = 10 ** Math.floor(Math.log10(max));
  const lead = round(max / power);
  const count = lead === 2 ? 4 : lead === 1 || lead === 2.5 || lead === 5 ? 5 : 4;
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
 * Which of the labels at x positions (sorted) are drawn, so that drawn labels are at least `gap`
 * apart: each drawn label says how many of the ones right after it it stands for.
 */
export function labelClusters(xs: readonly number[], gap: number): { shown: boolean; more: number }[] {
  const out = xs.map(() => ({ shown: false, more: 0 }));
  let lead = -1;
  for (const [i, x] of xs.entries()) {
    if (lead >= 0 && x - xs[lead]! < gap) out[lead]!.more++;
    else {
      lead = i;
      out[i]!.shown = true;
    }
  }
  return out;
}

const round = (v: number) => Math.round(v * 1e9) / 1e9;
