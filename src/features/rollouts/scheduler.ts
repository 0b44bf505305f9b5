// When reconciles run: a tick loop over the apps, one reconcile (or command) of an app at a time,
// and per app a retry delay that grows while its reconcile keeps failing, said once.
import { FailureBackoff } from '../../shared/failure-backoff.ts';
import type { Logger } from '../../shared/logger.ts';

export interface SchedulerOptions {
  readonly log: Logger;
  readonly tickMs?: number | undefined;
  /** The apps the tick loop visits. */
  readonly apps: () => Iterable<string>;
  /** One reconcile of the app; a throw counts as a failure for the backoff. */
  readonly reconcile: (app: string) => Promise<void>;
}

export class Scheduler {
  readonly #options: SchedulerOptions;
  readonly #busy = new Map<string, Promise<void>>();
  readonly #queued = new Map<string, Promise<void>>();
  /** Per app: a reconcile that keeps failing is retried with a growing delay, and said once. */
  readonly #backoff = new Map<string, FailureBackoff>();
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(options: SchedulerOptions) {
    this.#options = options;
  }

  start(): void {
    const loop = () => {
      if (this.#stopped) return;
      const now = Date.now();
      for (const app of this.#options.apps()) if (this.#backoffOf(app).due(now)) this.kick(app);
      this.#timer = setTimeout(loop, this.#options.tickMs ?? 100);
    };
    loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await Promise.allSettled([...this.#busy.values()]);
  }

  /** Reconcile an app now. Ticks and commands of one app run one at a time; a queued tick is shared. */
  kick(app: string): Promise<void> {
    const queued = this.#queued.get(app);
    if (queued) return queued;
    const { log } = this.#options;
    const run = this.exclusive(app, async () => {
      this.#queued.delete(app);
      if (this.#stopped) return;
      const backoff = this.#backoffOf(app);
      try {
        await this.#options.reconcile(app);
        const run = backoff.succeeded(Date.now());
        if (run) log.info({ app, failures: run.failures, forMs: run.forMs }, 'reconcile recovered');
      } catch (err) {
        const note = backoff.failed(Date.now());
        if (note.report === 'first')
          log.error({ err, app }, 'reconcile failed; retrying with a growing delay (up to 2 s)');
        else if (note.report === 'still')
          log.warn({ err, app, failures: note.failures, forMs: note.forMs }, 'reconcile still failing');
      }
    });
    this.#queued.set(app, run);
    return run;
  }

  /** Runs `fn` after every reconcile and command of the app queued before it, and before those after. */
  exclusive<T>(app: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#busy.get(app) ?? Promise.resolve();
    const run = previous.then(fn);
    const settled = run.then(
      () => {},
      () => {},
    );
    this.#busy.set(app, settled);
    void settled.then(() => {
      if (this.#busy.get(app) === settled) this.#busy.delete(app);
    });
    return run;
  }

  /** The next tick reconciles the app whatever its backoff says. */
  resetBackoff(app: string): void {
    this.#backoffOf(app).reset();
  }

  #backoffOf(app: string): FailureBackoff {
    const known = this.#backoff.get(app);
    if (known) return known;
    const backoff = new FailureBackoff();
    this.#backoff.set(app, backoff);
    return backoff;
  }
}
