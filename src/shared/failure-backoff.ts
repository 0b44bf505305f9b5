// How a loop lives with a failure that lasts (the agent is down, the store is unreachable):
// retry with a growing delay instead of every tick, and say it once, then a summary now and
// then, then when it is over, instead of ten identical lines a second.

export interface FailureBackoffOptions {
  /** Delay after the first failure; doubles on each further one. Default 100. */
  readonly baseMs?: number;
  /** Longest delay between tries. Default 2000. */
  readonly maxMs?: number;
  /** While failing, how often to report that it still does. Default 30 000. */
  readonly reportEveryMs?: number;
}

/** What a failure should say: 'first' (log it in full), 'still' (a periodic summary) or nothing. */
export interface FailureNote {
  readonly report: 'first' | 'still' | null;
  /** Failures in a row, this one included. */
  readonly failures: number;
  /** Since the first of them. */
  readonly forMs: number;
}

export class FailureBackoff {
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #reportEveryMs: number;
  #failures = 0;
  #firstAt = 0;
  #reportedAt = 0;
  #retryAt = 0;

  constructor(options: FailureBackoffOptions = {}) {
    this.#baseMs = options.baseMs ?? 100;
    this.#maxMs = options.maxMs ?? 2000;
    this.#reportEveryMs = options.reportEveryMs ?? 30_000;
  }

  /** Whether a periodic try may run at `now` (an explicit one always may). */
  due(now: number): boolean {
    return now >= this.#retryAt;
  }

  /** How long from `now` until the next periodic try. */
  waitMs(now: number): number {
    return Math.max(0, this.#retryAt - now);
  }

  failed(now: number): FailureNote {
    this.#failures++;
    if (this.#failures === 1) this.#firstAt = now;
    this.#retryAt = now + Math.min(this.#maxMs, this.#baseMs * 2 ** Math.min(this.#failures - 1, 20));
    let report: FailureNote['report'] = null;
    if (this.#failures === 1) report = 'first';
    else if (now - this.#reportedAt >= this.#reportEveryMs) report = 'still';
    if (report) this.#reportedAt = now;
    return { report, failures: this.#failures, forMs: now - this.#firstAt };
  }

  /** Ends a run of failures; returns it (null if there was none). */
  succeeded(now: number): { readonly failures: number; readonly forMs: number } | null {
    const run = this.#failures === 0 ? null : { failures: this.#failures, forMs: now - this.#firstAt };
    this.reset();
    return run;
  }

  /** Try again at once (what failed is known to be back). */
  reset(): void {
    this.#failures = 0;
    this.#retryAt = 0;
  }
}
