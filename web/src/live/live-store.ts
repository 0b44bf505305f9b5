// The one live stream of the dashboard (GET /api/v1/stream, Server-Sent Events) and what it has
// said so far. Pages read it with useLive(); nothing polls. The browser reconnects a dropped
// stream by itself (the server asks for 2 s); a stream the server refused is retried here, after
// checking the session is still good, with a growing pause.
import { useSyncExternalStore } from 'react';
import { ApiError, apiPath, getJson } from '../api/client.ts';
import type { AppDetail, MetricsMessage, RewindEvent, SeriesPoint } from '../api/types.ts';
import { EMPTY_LIVE, type LiveState, withApps, withEvent, withMetrics, withSeries } from './live-state.ts';

export type Connection = 'connecting' | 'live' | 'reconnecting';

export interface LiveSnapshot extends LiveState {
  readonly connection: Connection;
  /** Counts the stream's (re)connections: what a page fetched before a gap, it fetches again. */
  readonly epoch: number;
}

/** Seconds of history the apps page's sparklines start from. */
const SPARK_SECONDS = 120;
const RETRY_MS = [1000, 2000, 5000, 10_000, 30_000];

let snapshot: LiveSnapshot = { ...EMPTY_LIVE, connection: 'connecting', epoch: 0 };
const listeners = new Set<() => void>();
let source: EventSource | null = null;
let retry: ReturnType<typeof setTimeout> | undefined;
let failures = 0;
/** Apps whose recent seconds were read since the stream (re)connected. */
let backfilled = new Set<string>();
let onRefused: (err: ApiError) => void = () => {};

function update(next: Partial<LiveSnapshot>): void {
  snapshot = { ...snapshot, ...next };
  for (const l of listeners) l();
}

const parse = <T>(e: Event): T => JSON.parse((e as MessageEvent<string>).data) as T;

/** Reads an app's seconds from `since` (unix s) into the store, for a chart opened late. */
export async function loadSeries(app: string, since: number): Promise<void> {
  const points = await getJson<SeriesPoint[]>(
    `${apiPath(app, 'series')}?since=${Math.max(0, Math.floor(since))}`,
  );
  update(withSeries(snapshot, app, points));
}

function backfill(apps: readonly AppDetail[]): void {
  for (const { name } of apps) {
    if (backfilled.has(name)) continue;
    backfilled.add(name);
    loadSeries(name, Date.now() / 1000 - SPARK_SECONDS).catch(() => backfilled.delete(name));
  }
}

function connect(): void {
  retry = undefined;
  const es = new EventSource('/api/v1/stream');
  source = es;
  es.addEventListener('open', () => {
    failures = 0;
    backfilled = new Set();
    update({ connection: 'live', epoch: snapshot.epoch + 1 });
  });
  es.addEventListener('apps', (e) => {
    const apps = parse<AppDetail[]>(e);
    update(withApps(snapshot, apps, Date.now()));
    backfill(apps);
  });
  es.addEventListener('event', (e) => update(withEvent(snapshot, parse<RewindEvent>(e))));
  es.addEventListener('metrics', (e) => update(withMetrics(snapshot, parse<MetricsMessage>(e))));
  es.addEventListener('error', () => {
    if (es.readyState !== EventSource.CLOSED) {
      update({ connection: 'reconnecting' });
      return;
    }
    // Refused (the session ended, the server restarted without it): find out which, then retry.
    es.close();
    source = null;
    update({ connection: 'reconnecting' });
    getJson('/api/v1/session').then(
      () => scheduleRetry(),
      (err: Error) => {
        if (err instanceof ApiError && err.status === 401) onRefused(err);
        else scheduleRetry();
      },
    );
  });
}

function scheduleRetry(): void {
  clearTimeout(retry);
  const wait = RETRY_MS[Math.min(failures, RETRY_MS.length - 1)]!;
  failures++;
  retry = setTimeout(connect, wait);
}

/** Opens the stream (once); `refused` hears of a session the server no longer knows. */
export function startLive(refused: (err: ApiError) => void): void {
  onRefused = refused;
  if (!source && retry === undefined) connect();
}

export function stopLive(): void {
  clearTimeout(retry);
  retry = undefined;
  source?.close();
  source = null;
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** What the stream has said, re-rendering the component on every message. */
export function useLive(): LiveSnapshot {
  return useSyncExternalStore(subscribe, () => snapshot);
}
