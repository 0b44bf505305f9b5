// The live line of `deploy --wait` on a terminal: where the traffic goes, what each revision
// served and failed over the last seconds, and the analysis so far, redrawn in place under the
// step lines. Piped, there is none: the step lines alone, no control codes.
import type { AppDetail } from '../api/responses.ts';
import { formatNumber } from '../shared/format-number.ts';
import { failedRequests } from '../spec/error-rate.ts';
import type { ApiClient } from './api-client.ts';

/** One second of the data plane's counters (GET /apps/:app/metrics). */
export interface SecondCounts {
  readonly second: number;
  readonly revisions: readonly {
    readonly revision: number;
    readonly requests: number;
    readonly errors5xx: number;
    readonly connectFailures: number;
  }[];
}

/** Seconds the rates are taken over: the newest complete ones. */
export const LIVE_WINDOW_S = 5;

const percent = (share: number) => `${formatNumber(share * 100)}%`;

/** How each rule phase reads on the line; a rule that passes is not named. */
const PHASE_WORDS: Readonly<Record<string, string>> = {
  Breach: 'breach',
  Pending: 'pending',
  Inconclusive: 'too few requests',
  Error: 'cannot judge',
};

/** The line for `status` and the last seconds of `metrics`, at `now` (unix ms). */
export function liveLine(status: AppDetail, seconds: readonly SecondCounts[], now: number): string {
  const to = Math.floor(now / 1000) - 1;
  const from = to - LIVE_WINDOW_S + 1;
  const sums = new Map<number, { requests: number; failed: number }>();
  for (const s of seconds) {
    if (s.second < from || s.second > to) continue;
    for (const r of s.revisions) {
      const sum = sums.get(r.revision) ?? { requests: 0, failed: 0 };
      sum.requests += r.requests;
      sum.failed += failedRequests(r);
      sums.set(r.revision, sum);
    }
  }
  const target = status.activeRollout?.toRevision;
  const revisions = (status.traffic ?? []).filter((t) => t.weight > 0 || t.revision === target);
  const parts = revisions.map((t) => {
    const sum = sums.get(t.revision) ?? { requests: 0, failed: 0 };
    const rate = sum.requests / LIVE_WINDOW_S;
    const failed = sum.requests > 0 ? `, ${percent(sum.failed / sum.requests)} failed` : '';
    return `rev ${t.revision} ${t.weight}%: ${rate < 10 ? rate.toFixed(1) : Math.round(rate)} req/s${failed}`;
  });
  const a = status.analysis;
  if (a && a.evaluatedAt !== null) {
    // Only what each rule found: "rules pass" when every one passed, never for one that could not judge.
    for (const [phase, words] of Object.entries(PHASE_WORDS)) {
      const names = a.rules.filter((r) => r.phase === phase).map((r) => r.name);
      if (names.length) parts.push(`${words}: ${names.join(', ')}`);
    }
    if (a.rules.length > 0 && a.rules.every((r) => r.phase === 'Pass')) parts.push('rules pass');
    if (a.judgment) parts.push(`judgment ${a.judgment.verdict}`);
  }
  return parts.join(' · ');
}

/** Draws the line under the step lines and keeps it there while they scroll past. */
export class LiveLine {
  readonly #api: ApiClient;
  readonly #app: string;
  readonly #out: NodeJS.WriteStream;
  #text = '';
  #fetchedAt = 0;

  constructor(api: ApiClient, app: string, out: NodeJS.WriteStream = process.stdout) {
    this.#api = api;
    this.#app = app;
    this.#out = out;
  }

  /** Reads status and metrics again, at most once a second, and redraws. A failed read keeps the old line. */
  async refresh(): Promise<void> {
    const now = Date.now();
    if (now - this.#fetchedAt < 1000) return;
    this.#fetchedAt = now;
    try {
      const app = encodeURIComponent(this.#app);
      const since = Math.floor(now / 1000) - LIVE_WINDOW_S - 1;
      const [status, seconds] = await Promise.all([
        this.#api.get<AppDetail>(`/apps/${app}`),
        this.#api.get<SecondCounts[]>(`/apps/${app}/metrics?since=${since}`),
      ]);
      this.#text = liveLine(status, seconds, Date.now());
    } catch {
      return;
    }
    this.redraw();
  }

  /** Off the screen, before lines are printed above it. */
  clear(): void {
    if (this.#text) this.#out.write('\r\x1b[K');
  }

  /** Gone for good: the rollout (or the wait) ended. */
  end(): void {
    this.clear();
    this.#text = '';
  }

  redraw(): void {
    if (!this.#text) return;
    // One screen line: a wrapped line could not be redrawn in place.
    const width = Math.max(20, (this.#out.columns || 80) - 1);
    const text = this.#text.length > width ? `${this.#text.slice(0, width - 1)}…` : this.#text;
    this.#out.write(`\r\x1b[K${text}`);
  }
}
