// The main thread's side of OFREP served off its event loop (ADR 0004): starts the worker that owns
// the OFREP listener (ofrep-worker.ts), pushes it every flag set that comes into force, answers its
// token questions, and brings a dead worker back with the sets in force now.
import { Worker } from 'node:worker_threads';
import type { TokenCheck } from '../features/auth/token-service.ts';
import type { FlagSet } from '../features/flags/flag-set.ts';
import type { Logger } from '../shared/logger.ts';
import type { FlagSetPush, FromOfrepWorker, OfrepWorkerData, ToOfrepWorker } from './ofrep-worker.ts';

export interface OfrepHostOptions {
  readonly host: string;
  /** 0 picks a free port (tests); port() says which once started. */
  readonly port: number;
  readonly https?: { readonly cert: Buffer; readonly key: Buffer };
  readonly flagTokenKey: Buffer;
  readonly allowedHosts?: readonly string[];
  readonly allowedOrigins?: readonly string[];
  /** Checks a token that is not the app's flag token (TokenService.check). */
  readonly checkToken: (token: string) => Promise<TokenCheck>;
  readonly log: Logger;
  /** How long publish() waits for the worker to take a change before it gives up waiting. */
  readonly ackTimeoutMs?: number;
}

export interface OfrepHealth {
  readonly ok: boolean;
  readonly reason?: string;
  readonly restarts: number;
}

interface Pending {
  readonly resolve: () => void;
  readonly timer: NodeJS.Timeout;
}

/** Deaths within this window that restart at once; more back off (a worker that dies at start). */
const QUICK_RESTARTS = 3;
const RECENT_MS = 60_000;

export class OfrepHost {
  readonly #options: OfrepHostOptions;
  /** The latest set per app, in the order apps were published: what a new worker starts with. */
  readonly #sets = new Map<string, FlagSetPush>();
  readonly #pending = new Map<number, Pending>();
  #worker: Worker | null = null;
  #serving = false;
  #port = 0;
  #nextId = 1;
  #restarts = 0;
  #deaths: number[] = [];
  #closed = false;

  constructor(options: OfrepHostOptions) {
    this.#options = options;
  }

  /** Starts the worker with `sets` and resolves once it listens; rejects with why it cannot. */
  async start(sets: readonly FlagSetPush[]): Promise<void> {
    for (const s of sets) this.#sets.set(s.app, s);
    await this.#spawn(this.#options.port);
  }

  /** The port the worker listens on (the one asked for, or the free one picked for 0). */
  port(): number {
    return this.#port;
  }

  /**
   * Hands the worker a set now in force; resolves once the worker answers from it, so that the API
   * call that made the change returns after OFREP serves it. Never rejects: with no worker up the
   * set waits for the next one, and a worker that does not take it in time is logged.
   */
  publish(app: string, version: number, document: FlagSet): Promise<void> {
    const set = { app, version, document };
    const known = this.#sets.get(app);
    if (known && known.version > version) return Promise.resolve();
    this.#sets.set(app, set);
    const worker = this.#worker;
    if (!worker || !this.#serving) return Promise.resolve();
    return new Promise((resolve) => {
      const id = this.#nextId++;
      const timeoutMs = this.#options.ackTimeoutMs ?? 2000;
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        this.#options.log.warn(
          { app, version, timeoutMs },
          'the OFREP worker did not take a flag set in time',
        );
        resolve();
      }, timeoutMs);
      this.#pending.set(id, { resolve, timer });
      worker.postMessage({ op: 'set', id, set } satisfies ToOfrepWorker);
    });
  }

  health(): OfrepHealth {
    if (this.#serving) return { ok: true, restarts: this.#restarts };
    return { ok: false, reason: 'the OFREP worker is down; it is being restarted', restarts: this.#restarts };
  }

  /** For tests: the running worker (terminating it is how a crash looks from here). */
  worker(): Worker | null {
    return this.#worker;
  }

  async stop(): Promise<void> {
    this.#closed = true;
    this.#releasePending();
    const worker = this.#worker;
    this.#worker = null;
    this.#serving = false;
    if (worker) await worker.terminate();
  }

  #releasePending(): void {
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.resolve();
    }
    this.#pending.clear();
  }

  #spawn(port: number): Promise<void> {
    const o = this.#options;
    const data: OfrepWorkerData = {
      host: o.host,
      port,
      ...(o.https && { https: { cert: o.https.cert, key: o.https.key } }),
      flagTokenKey: o.flagTokenKey,
      allowedHosts: o.allowedHosts ?? [],
      allowedOrigins: o.allowedOrigins ?? [],
      sets: [...this.#sets.values()],
    };
    const snapshot = new Map(this.#sets);
    return new Promise((resolve, reject) => {
      const worker = new Worker(new URL('./ofrep-worker.ts', import.meta.url), { workerData: data });
      let started = false;
      worker.on('message', (msg: FromOfrepWorker) => {
        switch (msg.op) {
          case 'listening':
            started = true;
            this.#worker = worker;
            this.#serving = true;
            this.#port = msg.port;
            // A set published while this worker was starting is not in its workerData.
            for (const [app, set] of this.#sets)
              if (snapshot.get(app) !== set)
                worker.postMessage({ op: 'set', id: 0, set } satisfies ToOfrepWorker);
            resolve();
            return;
          case 'listen-failed':
            reject(
              new Error(
                msg.code === 'EADDRINUSE'
                  ? `the OFREP port ${o.host}:${port} is in use; stop what holds it or pass --ofrep-port N`
                  : `cannot listen for OFREP on ${o.host}:${port}: ${msg.message}`,
              ),
            );
            void worker.terminate();
            return;
          case 'ack': {
            const p = this.#pending.get(msg.id);
            if (!p) return;
            this.#pending.delete(msg.id);
            clearTimeout(p.timer);
            p.resolve();
            return;
          }
          case 'set-failed':
            o.log.error(
              { app: msg.app, version: msg.version, error: msg.message },
              'the OFREP worker could not load a flag set; it serves the previous one',
            );
            return;
          case 'check-token':
            void o.checkToken(msg.token).then(
              (check) => worker.postMessage({ op: 'token', id: msg.id, check } satisfies ToOfrepWorker),
              (err: Error) =>
                worker.postMessage({
                  op: 'token',
                  id: msg.id,
                  check: { ok: false, problem: `the token could not be checked (${err.message})` },
                } satisfies ToOfrepWorker),
            );
            return;
        }
      });
      worker.on('error', (err) => {
        if (!started) reject(err);
        else o.log.error({ err }, 'the OFREP worker failed');
      });
      worker.on('exit', (code) => {
        if (!started || this.#worker !== worker) return;
        this.#worker = null;
        this.#serving = false;
        // Sets pushed to the dead worker are in #sets: the next one starts with them.
        this.#releasePending();
        if (!this.#closed) this.#restart(code);
      });
    });
  }

  #restart(code: number): void {
    const now = Date.now();
    this.#deaths = [...this.#deaths.filter((t) => t > now - RECENT_MS), now];
    const extra = this.#deaths.length - QUICK_RESTARTS;
    const delay = extra > 0 ? Math.min(5000, 250 * 2 ** extra) : 0;
    this.#options.log.warn(
      { code, delayMs: delay, deaths: this.#deaths.length },
      'the OFREP worker died; restarting it with the flag sets in force',
    );
    setTimeout(() => {
      if (this.#closed) return;
      this.#spawn(this.#port).then(
        () => {
          this.#restarts++;
          this.#options.log.info(
            { port: this.#port, apps: this.#sets.size },
            'the OFREP worker serves again',
          );
        },
        (err: Error) => {
          this.#options.log.error({ err }, 'cannot restart the OFREP worker; trying again');
          this.#restart(code);
        },
      );
    }, delay).unref();
  }
}
