// Changes between controllers that share one PostgreSQL store: a writer sends NOTIFY inside the
// transaction that writes (so it is delivered on commit, and never for a rolled-back write), and
// every controller LISTENs on one dedicated connection. A dropped connection is reconnected with
// backoff; since notifications sent meanwhile are lost, listeners are then told to resync.

import { sql, type Transaction } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.ts';
import type { ChangeListener } from './types.ts';

/** The channel of flag-set versions; the payload is JSON `{ "app": "...", "version": N }`. */
export const FLAG_SETS_CHANNEL = 'rewind_flag_sets';

export interface ChangeFeed {
  /** Queues the notification in the writing transaction. */
  notify(trx: Transaction<Database>, payload: { app: string; version: number }): Promise<void>;
  watch(listener: ChangeListener): () => void;
  close(): Promise<void>;
}

const MIN_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 2000;

export function createPgChangeFeed(connectionString: string): ChangeFeed {
  const listeners = new Set<ChangeListener>();
  let client: pg.Client | null = null;
  let connecting: Promise<void> | null = null;
  let retry: NodeJS.Timeout | null = null;
  let backoff = MIN_BACKOFF_MS;
  let closed = false;
  /** Listeners hear of an outage once, not at every failed retry. */
  let down = false;
  const tellLost = (reason: string) => {
    if (down || closed) return;
    down = true;
    for (const l of listeners) l.lost?.(reason);
  };

  const deliver = (message: pg.Notification) => {
    if (message.channel !== FLAG_SETS_CHANNEL || !message.payload) return;
    let parsed: { app?: unknown; version?: unknown };
    try {
      parsed = JSON.parse(message.payload);
    } catch {
      return;
    }
    if (typeof parsed.app !== 'string' || typeof parsed.version !== 'number') return;
    for (const l of listeners) l.change(parsed.app, parsed.version);
  };

  const lost = (dead: pg.Client, reason: string) => {
    if (client !== dead) return;
    client = null;
    tellLost(reason);
    dead.removeAllListeners('notification');
    dead.end().catch(() => {});
    schedule();
  };

  const schedule = () => {
    if (closed || retry || listeners.size === 0) return;
    retry = setTimeout(() => {
      retry = null;
      void connect();
    }, backoff);
    retry.unref();
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  };

  const connect = (): Promise<void> => {
    connecting ??= (async () => {
      const next = new pg.Client({ connectionString, connectionTimeoutMillis: 5000, keepAlive: true });
      next.on('error', (err) => lost(next, err.message));
      next.on('end', () => lost(next, 'the server closed the connection'));
      next.on('notification', deliver);
      try {
        await next.connect();
        await next.query(`LISTEN ${FLAG_SETS_CHANNEL}`);
      } catch (err) {
        next.removeAllListeners('notification');
        await next.end().catch(() => {});
        connecting = null;
        tellLost((err as Error).message);
        schedule();
        return;
      }
      if (closed) {
        await next.end().catch(() => {});
        connecting = null;
        return;
      }
      client = next;
      connecting = null;
      backoff = MIN_BACKOFF_MS;
      down = false;
      // Anything written while no connection listened (before the first one, too) was missed:
      // every listener reloads what it holds.
      for (const l of listeners) l.resync();
    })();
    return connecting;
  };

  return {
    async notify(trx, payload) {
      await sql`select pg_notify(${FLAG_SETS_CHANNEL}, ${JSON.stringify(payload)})`.execute(trx);
    },
    watch(listener) {
      listeners.add(listener);
      if (!client && !connecting && !retry) void connect();
      return () => listeners.delete(listener);
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      retry = null;
      await connecting;
      const c = client;
      client = null;
      if (c) {
        c.removeAllListeners();
        c.on('error', () => {});
        await c.end().catch(() => {});
      }
    },
  };
}
