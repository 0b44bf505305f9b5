// `metrics: prometheus`: the analysis reads an app's traffic from a Prometheus server instead of the
// built-in proxy. Three PromQL queries (requests, errors, latency buckets; rewind.yaml's
// metrics.queries, with {{app}} filled in) are asked over a range at a step of one second through
// the HTTP API's query_range; counter-series.ts turns the counters into the per-second samples the
// rules, the sequential judgment and the incidents already read. Usable with any runtime and any
// traffic router: Prometheus only has to scrape the app's instances with the revision as a label.
import type { MetricsSpec } from '../../spec/provider-spec.ts';
import { type MetricsRead, type MetricsSource, metricsReadError } from '../metrics-source.ts';
import { type CounterAnswers, type PromSeries, samplesFromCounters } from './counter-series.ts';

export type PrometheusSpec = Extract<MetricsSpec, { url: string }>;

/**
 * The longest range one read asks for, in seconds: the analysis keeps an hour of history, and
 * Prometheus refuses a range of more than 11,000 points.
 */
export const MAX_RANGE_SECONDS = 3600;

interface QueryRangeAnswer {
  status?: string;
  error?: string;
  errorType?: string;
  data?: { resultType?: string; result?: unknown };
}

export class PrometheusMetricsSource implements MetricsSource {
  readonly #spec: PrometheusSpec;
  readonly #now: () => number;
  readonly #api: URL;

  constructor(spec: PrometheusSpec, now: () => number = Date.now) {
    this.#spec = spec;
    this.#now = now;
    this.#api = new URL('api/v1/query_range', spec.url.endsWith('/') ? spec.url : `${spec.url}/`);
  }

  /**
   * The last second whose counts cannot change any more: the scrape after it must have landed,
   * which takes up to one scrape interval and the time to ingest it (a second is allowed).
   */
  lastCompleteSecond(): number {
    return Math.floor((this.#now() - this.#spec.scrapeInterval - 1000) / 1000) - 1;
  }

  async read(app: string, sinceSecond: number): Promise<MetricsRead> {
    const to = this.lastCompleteSecond() + 1;
    const from = Math.max(sinceSecond, to - MAX_RANGE_SECONDS);
    if (from >= to) return { phase: 'Successful', samples: [] };
    try {
      const q = this.#spec.queries;
      const [requests, errors, latency] = await Promise.all([
        this.#range('requests', q.requests, app, from, to),
        this.#range('errors', q.errors, app, from, to),
        this.#range('latency', q.latency, app, from, to),
      ]);
      const answers: CounterAnswers = { requests, errors, latency };
      return {
        phase: 'Successful',
        samples: samplesFromCounters(answers, { revisionLabel: this.#spec.revisionLabel, from, to }),
      };
    } catch (err) {
      return metricsReadError(err);
    }
  }

  async #range(name: string, template: string, app: string, from: number, to: number): Promise<PromSeries[]> {
    const query = template.replace(/\{\{\s*app\s*\}\}/g, app);
    const body = new URLSearchParams({
      query,
      start: String(from),
      end: String(to),
      step: '1',
      timeout: `${this.#spec.timeout / 1000}s`,
    });
    const where = `Prometheus ${this.#api.origin} (${name} query)`;
    let res: Response;
    try {
      res = await fetch(this.#api, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(this.#spec.timeout),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      const why =
        (err as Error).name === 'TimeoutError'
          ? `no answer within ${this.#spec.timeout} ms`
          : (cause ?? (err as Error).message);
      throw new Error(`${where}: ${why}`);
    }
    const text = await res.text();
    let answer: QueryRangeAnswer;
    try {
      answer = JSON.parse(text) as QueryRangeAnswer;
    } catch {
      throw new Error(`${where}: HTTP ${res.status}, not a Prometheus answer: ${text.slice(0, 120)}`);
    }
    if (answer.status !== 'success')
      throw new Error(
        `${where}: ${answer.errorType ?? `HTTP ${res.status}`}: ${answer.error ?? 'no error given'}`,
      );
    if (answer.data?.resultType !== 'matrix' || !Array.isArray(answer.data.result))
      throw new Error(
        `${where}: the answer is a ${answer.data?.resultType ?? 'nothing'}, not a range of series`,
      );
    return answer.data.result.filter(isSeries);
  }
}

function isSeries(x: unknown): x is PromSeries {
  const s = x as PromSeries;
  return typeof s === 'object' && s !== null && typeof s.metric === 'object' && Array.isArray(s.values);
}
