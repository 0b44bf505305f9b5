// The stretch of time a rollout's charts show: a little before it started, to a little after it
// ended, or to the last second the stream brought while it runs.
import type { Rollout } from '../api/types.ts';

/** Seconds shown before the rollout started: the stable revision's traffic as it was. */
export const LEAD_SECONDS = 15;
/** Seconds shown after it ended: the traffic as it settled. */
export const TAIL_SECONDS = 30;
const MIN_SPAN = 20;

/** From and to in unix seconds, inclusive. */
export function rolloutWindow(
  rollout: Pick<Rollout, 'createdAt' | 'finishedAt'>,
  latestSecond: number | null,
  now: number,
): { from: number; to: number } {
  const from = Math.floor(rollout.createdAt / 1000) - LEAD_SECONDS;
  const reached = Math.max(latestSecond ?? 0, Math.floor(now / 1000) - 1);
  const end = rollout.finishedAt === null ? reached : Math.ceil(rollout.finishedAt / 1000) + TAIL_SECONDS;
  return { from, to: Math.max(from + MIN_SPAN, Math.min(end, reached)) };
}

/** Of two copies of one rollout (the stream's and a fetched one), the later. */
export function newer<T extends Pick<Rollout, 'generation' | 'updatedAt'>>(
  a: T | undefined,
  b: T | undefined,
): T | undefined {
  if (!a || !b) return a ?? b;
  return b.generation > a.generation || (b.generation === a.generation && b.updatedAt > a.updatedAt) ? b : a;
}
