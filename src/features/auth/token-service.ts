// API tokens: 256 random bits, shown once, kept only as their sha256. A token has a name, a role,
// an optional app scope and an optional expiry, and can be revoked.
import { hash, randomBytes, randomUUID } from 'node:crypto';
import { parseExpiry } from '../../shared/duration.ts';
import { RewindError } from '../../shared/errors.ts';
import { type Store, TokenNameTakenError, type TokenRecord } from '../../store/types.ts';
import { isRole, ROLES, type Role } from './roles.ts';

const PREFIX = 'rwt_';
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@:-]{0,62}$/;
/** How long a looked-up token is trusted without asking the store again (a revoke by another controller sharing the store shows after this). */
const CACHE_MS = 2000;

export interface Principal {
  readonly name: string;
  readonly role: Role;
  /** The one app the token may act on; null: every app. */
  readonly app: string | null;
}

export type TokenCheck =
  | { readonly ok: true; readonly principal: Principal }
  | { readonly ok: false; readonly problem: string };

export interface NewTokenInput {
  readonly name: string;
  readonly role: string;
  readonly app?: string | null;
  /** A duration from now: 30d, 12h, 90m. */
  readonly expires?: string | null;
}

export function hashToken(token: string): string {
  return hash('sha256', token, 'hex');
}

export class TokenService {
  readonly #store: Store;
  readonly #now: () => number;
  /** By token hash: the record and, while it holds, its verdict (one object, reused per request). */
  readonly #cache = new Map<
    string,
    { record: TokenRecord | undefined; until: number; verdict: TokenCheck; verdictUntil: number }
  >();

  constructor(deps: { store: Store; now?: () => number }) {
    this.#store = deps.store;
    this.#now = deps.now ?? Date.now;
  }

  /** Creates a token; the returned `token` is the only time it exists outside the caller. */
  async create(input: NewTokenInput): Promise<{ token: string; record: TokenRecord }> {
    if (!NAME_RE.test(input.name))
      throw new RewindError(
        'VALIDATION_FAILED',
        `name: "${input.name}" is not a token name; use letters, digits and . _ @ : -, up to 63`,
        { field: 'name' },
      );
    if (!isRole(input.role))
      throw new RewindError('VALIDATION_FAILED', `role: "${input.role}" is not one of ${ROLES.join(', ')}`, {
        field: 'role',
      });
    let expiresAt: number | null = null;
    if (input.expires) {
      const ms = parseExpiry(input.expires);
      if (ms === undefined)
        throw new RewindError(
          'VALIDATION_FAILED',
          `expires: "${input.expires}" is not a duration; write for example 30d, 12h or 90m`,
          { field: 'expires' },
        );
      expiresAt = this.#now() + ms;
    }
    const token = `${PREFIX}${randomBytes(32).toString('base64url')}`;
    try {
      const record = await this.#store.tokens.create({
        id: randomUUID(),
        name: input.name,
        role: input.role,
        app: input.app ?? null,
        hash: hashToken(token),
        expiresAt,
      });
      return { token, record };
    } catch (err) {
      if (err instanceof TokenNameTakenError)
        throw new RewindError(
          'TOKEN_NAME_TAKEN',
          `name: a token named ${input.name} exists; revoke it (rewind tokens revoke ${input.name}) or pick another name`,
          { field: 'name' },
        );
      throw err;
    }
  }

  /** Who the bearer of `token` is, or why it is refused. */
  async check(token: string): Promise<TokenCheck> {
    return this.checkDigest(hashToken(token));
  }

  /** check() by the token's sha256 (hashToken), for holders that keep only that: dashboard sessions. */
  async checkDigest(digest: string): Promise<TokenCheck> {
    const hit = this.#fromCache(digest, this.#now());
    if (hit) return hit;
    const record = await this.#store.tokens.byHash(digest);
    const now = this.#now();
    if (this.#cache.size > 10_000) this.#cache.clear();
    const verdict = this.#verdict(record, now);
    // A valid token's verdict holds until it expires (or the cache entry does).
    const verdictUntil = verdict.ok
      ? Math.min(record?.expiresAt ?? Number.POSITIVE_INFINITY, now + CACHE_MS)
      : 0;
    this.#cache.set(digest, { record, until: now + CACHE_MS, verdict, verdictUntil });
    return verdict;
  }

  #fromCache(digest: string, now: number): TokenCheck | undefined {
    const cached = this.#cache.get(digest);
    if (!cached || cached.until < now) return undefined;
    return cached.verdictUntil > now ? cached.verdict : this.#verdict(cached.record, now);
  }

  /** check() without waiting, when the answer is cached (the common case); undefined otherwise. */
  checkCached(token: string): TokenCheck | undefined {
    return this.checkCachedDigest(hashToken(token));
  }

  checkCachedDigest(digest: string): TokenCheck | undefined {
    return this.#fromCache(digest, this.#now());
  }

  #verdict(r: TokenRecord | undefined, now: number): TokenCheck {
    if (!r || !isRole(r.role)) return { ok: false, problem: 'the token is not known' };
    if (r.revokedAt !== null) return { ok: false, problem: `token ${r.name} was revoked` };
    if (r.expiresAt !== null && r.expiresAt <= now)
      return { ok: false, problem: `token ${r.name} expired at ${new Date(r.expiresAt).toISOString()}` };
    return { ok: true, principal: { name: r.name, role: r.role, app: r.app } };
  }

  /** Every token without its hash, revoked and expired ones too. */
  async list(): Promise<Omit<TokenRecord, 'hash'>[]> {
    return (await this.#store.tokens.list()).map(({ hash: _hash, ...rest }) => rest);
  }

  async revoke(name: string): Promise<void> {
    if (!(await this.#store.tokens.revoke(name)))
      throw new RewindError(
        'TOKEN_NOT_FOUND',
        `name: no unrevoked token named ${name}; see rewind tokens list`,
        { field: 'name' },
      );
    this.#cache.clear();
  }

  /** A free name: `base`, else base-2, base-3... among unrevoked tokens. */
  async freeName(base: string): Promise<string> {
    const taken = new Set((await this.#store.tokens.list()).filter((t) => !t.revokedAt).map((t) => t.name));
    if (!taken.has(base)) return base;
    for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
  }
}
