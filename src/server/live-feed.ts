// The dashboard's live stream (GET /api/v1/stream): each connected page gets the apps' details
// whenever they change, each event as the store appends it, and every second the last complete
// second of traffic per revision. Events push: a weight change or a rollback reaches the page as
// soon as its event is written, not at the next poll. The feed reads the data plane only while
// someone is connected, and keeps what it read (up to an hour) for the charts of pages opened later.
import type { AppDetail, Event } from '../api/responses.ts';
import { quantile } from '../features/analysis/histogram.ts';
import type { MetricsBucket } from '../providers/builtin/proxy/types.ts';
import { LATENCY_BOUNDS_MS } from '../spec/proxy-spec.ts';
import type { EventRecord } from '../store/types.ts';
import type { AppViews } from './app-views.ts';

/** One revision over one second, as the charts draw it. */
export interface RevisionSecond {
  readonly revision: number;
  readonly requests: number;
  /** 5xx responses, the proxy's own 502/504 included. */
  readonly errors: number;
  /** Latency quantiles in ms; null without requests. */
  readonly p50: number | null;
  readonly p99: number | null;
}

export interface SeriesPoint {
  readonly second: number;
  readonly revisions: readonly RevisionSecond[];
}

/** A connected page: what it may see and how to write to it. */
export interface FeedClient {
  maySee(app: string): boolean;
  /** One Server-Sent Event; false when the client is too slow and was dropped. */
  send(event: 'apps' | 'metrics' | 'event', data: unknown): boolean;
}

export interface LiveFeedDeps {
  readonly views: Pick<AppViews, 'detail'>;
  readonly appNames: () => readonly string[];
  readonly metrics: (app: string, sinceSecond: number) => Promise<MetricsBucket[]>;
  readonly onEvent: (listener: (event: EventRecord) => void) => () => void;
  readonly onError: (err: unknown) => void;
  readonly tickMs?: number;
}

/** Seconds of history kept per app (one hour). */
const KEEP_SECONDS = 3600;
/** How long after a second ends the feed reads it (the proxy workers' last counts land by then). */
const TICK_AFTER_MS = 30;
/** How far back the data plane holds seconds (its ring keeps 120). */
const DATA_PLANE_SECONDS = 120;

export function summarise(bucket: MetricsBucket): SeriesPoint {
  return {
    second: bucket.second,
    revisions: bucket.revisions.map((r) => {
      const h = { boundsMs: LATENCY_BOUNDS_MS, counts: r.latency };
      return {
        revision: r.revision,
        requests: r.requests,
        errors: r.errors5xx,
        p50: r.requests > 0 ? round(quantile(h, 0.5)) : null,
        p99: r.requests > 0 ? round(quantile(h, 0.99)) : null,
      };
    }),
  };
}

const round = (ms: number | null) => (ms === null ? null : Math.round(ms * 100) / 100);

export class LiveFeed {
  readonly #deps: LiveFeedDeps;
  readonly #clients = new Set<FeedClient>();
  readonly #history = new Map<string, SeriesPoint[]>();
  /** Each app's detail as last sent, to send only changes. */
  readonly #lastDetail = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #unlisten: (() => void) | undefined;
  #refreshing: Promise<void> | undefined;
  #refreshAgain = false;

  constructor(deps: LiveFeedDeps) {
    this.#deps = deps;
  }

  /** Sends the current details at once, then every change; returns the unsubscribe. */
  async subscribe(client: FeedClient): Promise<() => void> {
    const details = await this.#details();
    client.send(
      'apps',
      details.filter((d) => client.maySee(d.name)),
    );
    this.#clients.add(client);
    if (this.#clients.size === 1) this.#start();
    return () => {
      this.#clients.delete(client);
      if (this.#clients.size === 0) this.#stop();
    };
  }

  get clients(): number {
    return this.#clients.size;
  }

  /** An app's seconds from `since`: what the feed kept, then what the data plane still holds. */
  async series(app: string, since: number): Promise<SeriesPoint[]> {
    const kept = (this.#history.get(app) ?? []).filter((p) => p.second >= since);
    const from = kept.length > 0 ? kept[kept.length - 1]!.second + 1 : since;
    const fresh = (await this.#deps.metrics(app, from)).map(summarise);
    return [...kept, ...fresh];
  }

  close(): void {
    this.#clients.clear();
    this.#stop();
  }

  #start(): void {
    this.#unlisten = this.#deps.onEvent((e) => this.#onEvent(e));
    this.#schedule();
  }

  /** Ticks just after each second ends: that second is then complete and sent at once. */
  #schedule(): void {
    const period = this.#deps.tickMs ?? 1000;
    const delay = period - (Date.now() % period) + TICK_AFTER_MS;
    this.#timer = setTimeout(() => {
      void this.#tick()
        .catch(this.#deps.onError)
        .finally(() => {
          if (this.#timer) this.#schedule();
        });
    }, delay);
    this.#timer.unref();
  }

  #stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#unlisten?.();
    this.#unlisten = undefined;
    this.#lastDetail.clear();
  }

  #onEvent(e: EventRecord): void {
    const event: Event = e;
    for (const c of this.#clients) if (c.maySee(e.app)) this.#sendOrDrop(c, 'event', event);
    this.#refreshSoon();
  }

  #sendOrDrop(client: FeedClient, name: 'apps' | 'metrics' | 'event', data: unknown): void {
    if (!client.send(name, data)) this.#clients.delete(client);
  }

  /** Sends the details that changed; one refresh at a time, one more if asked meanwhile. */
  #refreshSoon(): void {
    if (this.#refreshing) {
      this.#refreshAgain = true;
      return;
    }
    this.#refreshing = this.#sendChangedDetails()
      .catch(this.#deps.onError)
      .finally(() => {
        this.#refreshing = undefined;
        if (this.#refreshAgain) {
          this.#refreshAgain = false;
          this.#refreshSoon();
        }
      });
  }

  async #details(): Promise<AppDetail[]> {
    return Promise.all(this.#deps.appNames().map((name) => this.#deps.views.detail(name)));
  }

  async #sendChangedDetails(): Promise<void> {
    if (this.#clients.size === 0) return;
    const details = await this.#details();
    let changed = false;
    for (const d of details) {
      const json = JSON.stringify(d);
      if (this.#lastDetail.get(d.name) !== json) changed = true;
      this.#lastDetail.set(d.name, json);
    }
    if (!changed) return;
    for (const c of this.#clients)
      this.#sendOrDrop(
        c,
        'apps',
        details.filter((d) => c.maySee(d.name)),
      );
  }

  async #tick(): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const latest: Record<string, readonly RevisionSecond[]> = {};
    let second = 0;
    for (const app of this.#deps.appNames()) {
      const kept = this.#history.get(app) ?? [];
      const last = kept[kept.length - 1]?.second;
      const since = last === undefined ? now - DATA_PLANE_SECONDS : last + 1;
      const points = (await this.#deps.metrics(app, since)).map(summarise);
      if (points.length === 0) continue;
      kept.push(...points);
      if (kept.length > KEEP_SECONDS) kept.splice(0, kept.length - KEEP_SECONDS);
      this.#history.set(app, kept);
      const newest = points[points.length - 1]!;
      latest[app] = newest.revisions;
      second = Math.max(second, newest.second);
    }
    if (second > 0)
      for (const c of this.#clients) {
        const apps = Object.fromEntries(Object.entries(latest).filter(([app]) => c.maySee(app)));
        this.#sendOrDrop(c, 'metrics', { second, apps });
      }
    await this.#sendChangedDetails();
  }
}
