// What the dashboard knows from the live stream, and how each message changes it. Pure: the
// store (live-store.ts) holds one LiveState and replaces it with what these functions return.
import type { AppDetail, MetricsMessage, RewindEvent, SeriesPoint } from '../api/types.ts';
import { mergeSeries } from './series.ts';

/** A verdict of a rollout's judgment, as an `apps` message showed it. */
export interface JudgmentMark {
  readonly at: number;
  readonly verdict: string;
  readonly message: string;
}

export interface LiveState {
  /** Null until the first `apps` message. */
  readonly apps: readonly AppDetail[] | null;
  /** Per app, its seconds in order, up to SERIES_SECONDS of them. */
  readonly series: Readonly<Record<string, readonly SeriesPoint[]>>;
  /** Events as they came, oldest first, up to EVENTS_KEPT. */
  readonly events: readonly RewindEvent[];
  /** Per rollout id, the judgments seen while the page was open. */
  readonly judgments: Readonly<Record<string, readonly JudgmentMark[]>>;
}

/** An hour, as the server keeps. */
export const SERIES_SECONDS = 3600;
export const EVENTS_KEPT = 1000;
const MARKS_KEPT = 3600;

export const EMPTY_LIVE: LiveState = { apps: null, series: {}, events: [], judgments: {} };

/** The apps as the stream says they are now; their judgments join each rollout's marks. */
export function withApps(state: LiveState, apps: readonly AppDetail[], now: number): LiveState {
  let judgments = state.judgments;
  for (const app of apps)
    for (const watched of [app.analysis, app.watch]) {
      if (!watched?.judgment) continue;
      const mark: JudgmentMark = {
        at: watched.evaluatedAt ?? now,
        verdict: watched.judgment.verdict,
        message: watched.judgment.message,
      };
      const marks = judgments[watched.rolloutId] ?? [];
      const last = marks[marks.length - 1];
      if (last && last.verdict === mark.verdict && last.message === mark.message) continue;
      if (last && mark.at < last.at) continue;
      judgments = { ...judgments, [watched.rolloutId]: [...marks, mark].slice(-MARKS_KEPT) };
    }
  return { ...state, apps, judgments };
}

/** One second more for each app in the message. */
export function withMetrics(state: LiveState, message: MetricsMessage): LiveState {
  let series = state.series;
  for (const [app, revisions] of Object.entries(message.apps))
    series = {
      ...series,
      [app]: mergeSeries(series[app] ?? [], [{ second: message.second, revisions }], SERIES_SECONDS),
    };
  return { ...state, series };
}

/** Seconds read from GET /series, merged with those the stream brought. */
export function withSeries(state: LiveState, app: string, points: readonly SeriesPoint[]): LiveState {
  return {
    ...state,
    series: { ...state.series, [app]: mergeSeries(state.series[app] ?? [], points, SERIES_SECONDS) },
  };
}

export function withEvent(state: LiveState, event: RewindEvent): LiveState {
  if (state.events.some((e) => e.id === event.id)) return state;
  return { ...state, events: [...state.events, event].slice(-EVENTS_KEPT) };
}

/** The events fetched for one rollout joined with those the stream brought since, oldest first. */
export function rolloutEvents(
  fetched: readonly RewindEvent[],
  live: readonly RewindEvent[],
  rolloutId: string,
): RewindEvent[] {
  const byId = new Map<number, RewindEvent>();
  for (const e of fetched) byId.set(e.id, e);
  for (const e of live) if (e.rolloutId === rolloutId) byId.set(e.id, e);
  return [...byId.values()].sort((a, b) => a.id - b.id);
}
