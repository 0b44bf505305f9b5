// Fans notifications out to the notifiers without ever making the caller wait: publish() only
// queues. A dead endpoint must never delay a rollback. Each notifier has its own lane (a bounded
// queue, delivered in order, one at a time, retried with exponential backoff), so a slow one never
// holds up the others. Outcomes are reported as DeliveryResults.

import { randomUUID } from 'node:crypto';
import type { NotificationEventType, NotifierSpec } from '../../spec/notification-spec.ts';
import {
  createNotifier,
  type Notification,
  type Notifier,
  type NotifierContext,
  NotifierError,
} from './notifier.ts';

export interface HubTarget {
  readonly notifier: Notifier;
  /** Only these events; all when absent. */
  readonly events?: readonly NotificationEventType[] | undefined;
}

export interface HubLogger {
  warn(fields: object, message: string): void;
}

export interface NotificationHubOptions {
  readonly targets: readonly HubTarget[];
  /** Tries per notification, the first included. Default 5. */
  readonly maxAttempts?: number;
  /** Wait before the second try; doubles after each failure. Default 200 ms. */
  readonly baseDelayMs?: number;
  /** Cap of the wait between tries. Default 5 s. */
  readonly maxDelayMs?: number;
  /** Waiting notifications per notifier; beyond it the oldest is dropped with a warning. Default 200. */
  readonly queueLimit?: number;
  /** How many recent results `results` keeps. Default 100. */
  readonly keepResults?: number;
  readonly logger?: HubLogger;
  readonly now?: () => number;
}

/** The published event: id and time are filled in when absent. */
export type NotificationInput = Omit<Notification, 'id' | 'at'> & {
  readonly id?: string;
  readonly at?: number;
};

export interface DeliveryResult {
  readonly notifier: string;
  readonly notification: Notification;
  /** delivered; failed after its tries (or at once when not retryable); dropped from a full queue or at close. */
  readonly outcome: 'delivered' | 'failed' | 'dropped';
  readonly attempts: number;
  /** The last error, null when delivered. */
  readonly error: string | null;
  /** Epoch ms when the outcome was known. */
  readonly at: number;
  /** From publish to outcome. */
  readonly elapsedMs: number;
}

interface Lane {
  readonly target: HubTarget;
  readonly queue: Notification[];
  busy: boolean;
  /** The pending backoff, so close() can cut it short. */
  wake: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
}

export class NotificationHub {
  readonly #lanes: Lane[];
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #queueLimit: number;
  readonly #keepResults: number;
  readonly #logger: HubLogger | undefined;
  readonly #now: () => number;
  readonly #listeners = new Set<(result: DeliveryResult) => void>();
  readonly #idleWaiters = new Set<() => void>();
  readonly #results: DeliveryResult[] = [];
  #closed = false;

  constructor(options: NotificationHubOptions) {
    this.#lanes = options.targets.map((target) => ({ target, queue: [], busy: false, wake: undefined }));
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.#baseDelayMs = Math.max(0, options.baseDelayMs ?? 200);
    this.#maxDelayMs = Math.max(this.#baseDelayMs, options.maxDelayMs ?? 5000);
    this.#queueLimit = Math.max(1, options.queueLimit ?? 200);
    this.#keepResults = Math.max(0, options.keepResults ?? 100);
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Queues the notification for every notifier that wants its type and returns at once; never
   * throws and never waits for the network. Returns the notification as sent.
   */
  publish(input: NotificationInput): Notification {
    const notification: Notification = {
      ...input,
      id: input.id ?? randomUUID(),
      at: input.at ?? this.#now(),
    };
    if (this.#closed) return notification;
    for (const lane of this.#lanes) {
      if (lane.target.events && !lane.target.events.includes(notification.type)) continue;
      lane.queue.push(notification);
      while (lane.queue.length > this.#queueLimit) {
        const dropped = lane.queue.shift();
        if (!dropped) break;
        this.#logger?.warn(
          { notifier: lane.target.notifier.name, type: dropped.type, app: dropped.app },
          `notification queue full (${this.#queueLimit}): dropped the oldest`,
        );
        this.#report(lane, dropped, 'dropped', 0, `queue full (${this.#queueLimit})`);
      }
      if (!lane.busy) {
        lane.busy = true;
        // Deliver on a later turn: publish() does no I/O, not even a synchronous console write.
        setImmediate(() => void this.#drain(lane));
      }
    }
    return notification;
  }

  /** Called with every result, in the order they happen. Returns the unsubscribe function. */
  onResult(listener: (result: DeliveryResult) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The most recent results, oldest first. */
  get results(): readonly DeliveryResult[] {
    return [...this.#results];
  }

  /** Notifications queued or in delivery, all notifiers together. */
  get pending(): number {
    return this.#lanes.reduce((n, lane) => n + lane.queue.length + (lane.busy ? 1 : 0), 0);
  }

  /**
   * Waits until every queued notification has an outcome, or `timeoutMs` passes.
   * Resolves true when everything settled, false on timeout (nothing is cancelled).
   */
  flush(timeoutMs: number): Promise<boolean> {
    if (this.#idle()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (settled: boolean) => {
        clearTimeout(timer);
        this.#idleWaiters.delete(onIdle);
        resolve(settled);
      };
      const onIdle = () => done(true);
      const timer = setTimeout(() => done(false), Math.max(0, timeoutMs));
      this.#idleWaiters.add(onIdle);
    });
  }

  /**
   * Stops: later publishes are ignored, queued notifications are dropped (reported), waiting
   * retries give up. A delivery already on the wire finishes or times out on its own.
   * Call flush first to give the queue a chance.
   */
  close(): void {
    this.#closed = true;
    for (const lane of this.#lanes) {
      for (const n of lane.queue.splice(0)) this.#report(lane, n, 'dropped', 0, 'notification hub closed');
      if (lane.wake) {
        clearTimeout(lane.wake.timer);
        lane.wake.resolve();
      }
    }
    this.#checkIdle();
  }

  async #drain(lane: Lane): Promise<void> {
    try {
      for (let next = lane.queue.shift(); next; next = lane.queue.shift()) {
        await this.#deliver(lane, next);
      }
    } finally {
      lane.busy = false;
      this.#checkIdle();
    }
  }

  async #deliver(lane: Lane, notification: Notification): Promise<void> {
    const { notifier } = lane.target;
    for (let attempt = 1; ; attempt++) {
      try {
        await notifier.send(notification);
        this.#report(lane, notification, 'delivered', attempt, null);
        return;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        const retryable = !(err instanceof NotifierError) || err.retryable;
        if (!retryable || attempt >= this.#maxAttempts || this.#closed) {
          this.#logger?.warn(
            { notifier: notifier.name, type: notification.type, app: notification.app, attempts: attempt },
            `notification not delivered: ${message}`,
          );
          this.#report(lane, notification, 'failed', attempt, message);
          return;
        }
        await this.#sleep(lane, Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (attempt - 1)));
        if (this.#closed) {
          this.#report(lane, notification, 'failed', attempt, `${message}; hub closed before the next try`);
          return;
        }
      }
    }
  }

  #sleep(lane: Lane, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        lane.wake = undefined;
        resolve();
      }, ms);
      lane.wake = {
        timer,
        resolve: () => {
          lane.wake = undefined;
          resolve();
        },
      };
    });
  }

  #report(
    lane: Lane,
    notification: Notification,
    outcome: DeliveryResult['outcome'],
    attempts: number,
    error: string | null,
  ): void {
    const at = this.#now();
    const result: DeliveryResult = {
      notifier: lane.target.notifier.name,
      notification,
      outcome,
      attempts,
      error,
      at,
      elapsedMs: Math.max(0, at - notification.at),
    };
    if (this.#keepResults > 0) {
      this.#results.push(result);
      if (this.#results.length > this.#keepResults) this.#results.shift();
    }
    for (const listener of this.#listeners) {
      try {
        listener(result);
      } catch {
        // A listener's bug must not stop deliveries.
      }
    }
  }

  #idle(): boolean {
    return this.#lanes.every((lane) => !lane.busy && lane.queue.length === 0);
  }

  #checkIdle(): void {
    if (!this.#idle()) return;
    for (const waiter of [...this.#idleWaiters]) waiter();
  }
}

/**
 * The hub for rewind.yaml's `notifications:` list: builds each notifier from the registry and keeps
 * its event filter. Throws (naming the notifier) when one cannot be built, e.g. a missing secret.
 */
export function createNotificationHub(
  specs: readonly NotifierSpec[],
  context: NotifierContext = {},
  options: Omit<NotificationHubOptions, 'targets'> = {},
): NotificationHub {
  const targets = specs.map((spec) => ({ notifier: createNotifier(spec, context), events: spec.events }));
  return new NotificationHub({ ...options, targets });
}
