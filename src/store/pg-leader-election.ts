// One leader among the controllers that share a PostgreSQL store. The leader is the controller
// whose dedicated connection holds a session-level advisory lock: PostgreSQL drops it the moment
// that session ends, so a leader that dies however it dies (SIGKILL included: the kernel closes
// its socket) frees the lock at once, and a follower, which tries to take it every half second,
// leads within a second. No clock is trusted and no two can hold it.
//
// The lease: a leader cut off from the database (a partition, a hung connection) cannot know
// whether its session still holds the lock, so it renews the leader row each second and gives up
// leading (onLost) when no renewal has succeeded for `leaseMs`; the server exits then, and starts
// again as a follower. PostgreSQL ends a session whose peer is gone through TCP keepalives set
// below (about 8 s), after the lease has run out: the old leader has stopped before another can
// start. The row names the leader (id and API URL) for followers' refusals; the lock alone decides.
import pg from 'pg';

/** The lock: pg_try_advisory_lock(LOCK_CLASS, LOCK_ID), in the store's database. */
const LOCK_CLASS = 0x52657764; // 'Rewd'
const LOCK_ID = 1;

export interface LeaderRecord {
  readonly id: string;
  readonly url: string;
  /** When it became leader, ms. */
  readonly since: number;
  /** Its last renewal, ms. */
  readonly renewedAt: number;
}

/** What the API and the loop ask: may this controller act, and who does. */
export interface Leadership {
  isLeader(): boolean;
  /** The leader as last read: this controller when it leads; null when none is known. */
  leader(): LeaderRecord | null;
  /** This controller's id. */
  readonly id: string;
}

/** A store only one controller can use (SQLite in its data dir): it always leads. */
export function soleLeadership(id: string, url: string): Leadership {
  const since = Date.now();
  return {
    id,
    isLeader: () => true,
    leader: () => ({ id, url, since, renewedAt: Date.now() }),
  };
}

export interface ElectionOptions {
  readonly url: string;
  readonly id: string;
  /** The URL other controllers' refusals send writes to. */
  readonly apiUrl: string;
  /** Called once, when this controller becomes leader. */
  readonly onElected: () => void;
  /** Called once, when a leader can no longer be sure it leads: stop acting now. */
  readonly onLost: (why: string) => void;
  /** Called when a follower cannot reach the database (it keeps trying). */
  readonly onError?: (err: Error) => void;
  readonly retryMs?: number;
  readonly leaseMs?: number;
}

export class PgLeaderElection implements Leadership {
  readonly id: string;
  readonly #o: ElectionOptions;
  readonly #retryMs: number;
  readonly #leaseMs: number;
  #client: pg.Client | null = null;
  #leading = false;
  #lost = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #leader: LeaderRecord | null = null;
  #renewedAt = 0;
  #watchdog: NodeJS.Timeout | undefined;

  constructor(options: ElectionOptions) {
    this.#o = options;
    this.id = options.id;
    this.#retryMs = options.retryMs ?? 500;
    this.#leaseMs = options.leaseMs ?? 5000;
  }

  isLeader(): boolean {
    return this.#leading && !this.#lost && Date.now() - this.#renewedAt <= this.#leaseMs;
  }

  leader(): LeaderRecord | null {
    return this.#leader;
  }

  /** Connects and makes the first attempt (so a lone controller leads when this resolves), then keeps trying. */
  async start(): Promise<void> {
    await this.#tick();
    this.#schedule();
  }

  /** Gives the lock up (a follower takes over at once) and stops. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#watchdog);
    const client = this.#client;
    this.#client = null;
    if (!client) return;
    if (this.#leading)
      await client
        .query('delete from leader where name = $1 and controller_id = $2', ['controller', this.id])
        .catch(() => {});
    await client.end().catch(() => {});
  }

  #schedule(): void {
    if (this.#stopped || this.#lost) return;
    this.#timer = setTimeout(
      () => void this.#tick().finally(() => this.#schedule()),
      this.#leading ? Math.min(1000, this.#leaseMs / 3) : this.#retryMs,
    );
    this.#timer.unref();
  }

  async #connect(): Promise<pg.Client> {
    if (this.#client) return this.#client;
    const client = new pg.Client({
      connectionString: this.#o.url,
      connectionTimeoutMillis: 5000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 1000,
      application_name: `rewind-leader ${this.id}`.slice(0, 63),
      // A renewal that hangs counts as a failed one.
      query_timeout: Math.max(1000, this.#leaseMs / 2),
    });
    client.on('error', (err) => this.#dropped(client, err.message));
    client.on('end', () => this.#dropped(client, 'the connection ended'));
    await client.connect();
    // The server side of the lease: a session whose peer vanished ends in about 8 s.
    await client.query(
      'set tcp_keepalives_idle = 5; set tcp_keepalives_interval = 1; set tcp_keepalives_count = 3',
    );
    this.#client = client;
    return client;
  }

  #dropped(client: pg.Client, why: string): void {
    if (this.#client !== client) return;
    this.#client = null;
    client.end().catch(() => {});
    // A leader's lock went with its session: it must stop acting now.
    if (this.#leading) this.#lose(`its database session ended (${why})`);
  }

  #lose(why: string): void {
    if (this.#lost || this.#stopped) return;
    this.#lost = true;
    clearTimeout(this.#timer);
    clearInterval(this.#watchdog);
    this.#o.onLost(why);
  }

  async #tick(): Promise<void> {
    if (this.#stopped || this.#lost) return;
    try {
      const client = await this.#connect();
      if (this.#leading) {
        const now = Date.now();
        const r = await client.query(
          'update leader set renewed_at = $1 where name = $2 and controller_id = $3',
          [now, 'controller', this.id],
        );
        if (r.rowCount === 1) {
          this.#renewedAt = now;
          this.#leader = { ...this.#leader!, renewedAt: now };
        } else {
          // Someone rewrote the row: only a controller that holds the lock writes it, so ours is gone.
          this.#lose('the leader row names another controller');
        }
        return;
      }
      const got = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1, $2) as ok', [
        LOCK_CLASS,
        LOCK_ID,
      ]);
      if (got.rows[0]?.ok) {
        const now = Date.now();
        await client.query(
          `insert into leader (name, controller_id, api_url, since, renewed_at) values ($1, $2, $3, $4, $4)
           on conflict (name) do update set controller_id = excluded.controller_id, api_url = excluded.api_url,
             since = excluded.since, renewed_at = excluded.renewed_at`,
          ['controller', this.id, this.#o.apiUrl, now],
        );
        this.#leading = true;
        this.#renewedAt = now;
        this.#leader = { id: this.id, url: this.#o.apiUrl, since: now, renewedAt: now };
        // Whatever a renewal waits on, the lease runs out on time.
        this.#watchdog = setInterval(() => {
          const silent = Date.now() - this.#renewedAt;
          if (silent > this.#leaseMs) this.#lose(`no renewal for ${silent} ms`);
        }, 250);
        this.#watchdog.unref();
        this.#o.onElected();
        return;
      }
      const row = await client.query<{
        controller_id: string;
        api_url: string;
        since: string;
        renewed_at: string;
      }>('select controller_id, api_url, since, renewed_at from leader where name = $1', ['controller']);
      const r = row.rows[0];
      this.#leader = r
        ? { id: r.controller_id, url: r.api_url, since: Number(r.since), renewedAt: Number(r.renewed_at) }
        : null;
    } catch (err) {
      if (this.#leading) {
        if (Date.now() - this.#renewedAt > this.#leaseMs)
          this.#lose(`no renewal for ${Date.now() - this.#renewedAt} ms (${(err as Error).message})`);
        return;
      }
      this.#o.onError?.(err as Error);
    }
  }
}
