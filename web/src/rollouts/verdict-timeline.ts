// The sequential judgment's verdict over a rollout, as a strip under its charts: from the moment
// the new revision took traffic, through what the analysis said (its judgments while the page was
// open, its breach and decision events), to where the rollout ended.
import type { RewindEvent } from '../api/types.ts';
import type { JudgmentMark } from '../live/live-state.ts';

/** Continue: not enough evidence yet; NotWorse/Worse: the judgment's verdicts; the rest from events. */
export type Verdict = 'Continue' | 'NotWorse' | 'Worse' | 'Breach' | 'Paused' | 'Completed';

export interface VerdictSegment {
  readonly from: number;
  readonly to: number;
  readonly verdict: Verdict;
  readonly message: string;
}

interface Point {
  readonly at: number;
  readonly verdict: Verdict;
  readonly message: string;
}

export const VERDICT_TEXT: Readonly<Record<Verdict, string>> = {
  Continue: 'collecting evidence',
  NotWorse: 'not worse',
  Worse: 'worse: roll back',
  Breach: 'rule breached',
  Paused: 'paused for a person',
  Completed: 'completed',
};

const asVerdict = (v: string): Verdict =>
  v === 'Worse' || v === 'NotWorse' || v === 'Continue' ? v : 'Continue';

function pointOf(e: RewindEvent): Point | null {
  if (e.type === 'analysis.breach') return { at: e.at, verdict: 'Breach', message: e.message };
  if (e.type === 'analysis.decision')
    return { at: e.at, verdict: /^paus/i.test(e.message) ? 'Paused' : 'Worse', message: e.message };
  if (e.type === 'rollout.completed') return { at: e.at, verdict: 'Completed', message: e.message };
  return null;
}

/**
 * Segments from `since` (unix ms, when analysis began; null: it never did) to `end`, one per
 * change of verdict; a later point with the same verdict only carries the segment on.
 */
export function verdictTimeline(input: {
  readonly since: number | null;
  readonly end: number;
  readonly events: readonly RewindEvent[];
  readonly marks: readonly JudgmentMark[];
}): VerdictSegment[] {
  const { since, end } = input;
  if (since === null || end <= since) return [];
  const start: Point = {
    at: since,
    verdict: 'Continue',
    message: 'the new revision takes traffic: collecting evidence',
  };
  const points: Point[] = [
    start,
    ...input.marks.map((m): Point => ({ at: m.at, verdict: asVerdict(m.verdict), message: m.message })),
    ...input.events.flatMap((e) => pointOf(e) ?? []),
  ]
    .filter((p) => p.at >= since && p.at < end)
    .sort((a, b) => a.at - b.at);
  const segments: VerdictSegment[] = [];
  for (const [i, p] of points.entries()) {
    const to = points[i + 1]?.at ?? end;
    const last = segments[segments.length - 1];
    if (last && last.verdict === p.verdict) segments[segments.length - 1] = { ...last, to };
    else segments.push({ from: p.at, to, verdict: p.verdict, message: p.message });
  }
  return segments;
}
