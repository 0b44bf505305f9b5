// An open-loop load generator: requests leave at a fixed rate whatever the server does (a slow or
// failing revision does not slow the load down, unlike closed loops), and every outcome is kept with
// the revision that answered it (the shop's x-shop-version header).
import http from 'node:http';
import { nowMs, type Sample } from './rewind-cycle.ts';

export class OpenLoop {
  readonly url: string;
  readonly rps: number;
  readonly agent: http.Agent;
  /** Outcomes of the requests sent since the last takeSamples(), in send order of completion. */
  samples: Sample[] = [];
  sent = 0;
  inflight = 0;
  /** Requests not sent because `maxInflight` were already waiting (the generator's own limit). */
  skipped = 0;
  readonly maxInflight: number;
  #timer: NodeJS.Timeout | null = null;
  #start = 0;
  #pending = new Set<Promise<void>>();

  constructor(url: string, rps: number, options: { maxSockets?: number; maxInflight?: number } = {}) {
    this.url = url;
    this.rps = rps;
    this.maxInflight = options.maxInflight ?? 4000;
    const maxSockets = options.maxSockets ?? 256;
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  start(): void {
    this.#start = nowMs();
    this.sent = 0;
    // Every millisecond, send what is due: request k leaves at start + k / rps (its sentAt is that
    // scheduled time, so a late timer shows up as latency, not as a lower rate).
    this.#timer = setInterval(() => {
      const due = Math.floor(((nowMs() - this.#start) * this.rps) / 1000);
      while (this.sent < due) {
        const scheduled = this.#start + (this.sent * 1000) / this.rps;
        this.sent++;
        if (this.inflight >= this.maxInflight) {
          this.skipped++;
          continue;
        }
        const p = this.#one(scheduled).then((s) => {
          this.samples.push(s);
        });
        this.#pending.add(p);
        void p.finally(() => this.#pending.delete(p));
      }
    }, 1);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await Promise.all([...this.#pending]);
    this.agent.destroy();
  }

  takeSamples(): Sample[] {
    const s = this.samples;
    this.samples = [];
    return s;
  }

  #one(sentAt: number): Promise<Sample> {
    this.inflight++;
    return new Promise((resolve) => {
      let settled = false;
      const done = (status: number, version: string | null, error: string | null) => {
        if (settled) return;
        settled = true;
        this.inflight--;
        resolve({ sentAt, doneAt: nowMs(), status, version, error });
      };
      const req = http.get(this.url, { agent: this.agent }, (res) => {
        const version = res.headers['x-shop-version'];
        res.on('data', () => {});
        res.on('end', () => done(res.statusCode ?? 0, typeof version === 'string' ? version : null, null));
        res.on('error', (err) => done(res.statusCode ?? 0, null, err.message));
        res.on('aborted', () => done(res.statusCode ?? 0, null, 'response aborted'));
      });
      req.setTimeout(10_000, () => req.destroy(new Error('request timed out after 10s')));
      req.on('error', (err: Error & { code?: string }) => done(0, null, err.code ?? err.message));
    });
  }
}

export const ok = (s: Sample): boolean => s.error === null && s.status >= 200 && s.status < 300;
