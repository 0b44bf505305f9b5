// Signing in to the dashboard without copying a token: a sign-in code (in a link that
// `rewind server` and `rewind dashboard` print) is exchanged once for a session, which the browser
// holds in an HttpOnly cookie. Both are 256 random bits kept only as their sha256, in memory: a
// restarted server forgets them and the user opens a fresh link. A session acts as the token that
// minted its code, checked on every request, so revoking or expiring that token ends its sessions.
import { hash, randomBytes } from 'node:crypto';
import type { TokenCheck, TokenService } from './token-service.ts';

/** How long a sign-in link can be used (once). */
export const SIGN_IN_CODE_MS = 15 * 60_000;
/** How long a dashboard session lasts before the user signs in again. */
export const SESSION_MS = 12 * 3_600_000;
/** Outstanding codes and open sessions kept at most; beyond them the oldest go first. */
const MAX_CODES = 100;
const MAX_SESSIONS = 1000;

interface Grant {
  /** sha256 of the token whose rights the code or session carries. */
  readonly tokenDigest: string;
  readonly expiresAt: number;
}

export type Redeemed =
  | { readonly ok: true; readonly session: string; readonly expiresAt: number }
  | { readonly ok: false; readonly problem: string };

const digestOf = (secret: string) => hash('sha256', secret, 'hex');
const newSecret = () => randomBytes(32).toString('base64url');

/** Drops expired entries, then the oldest (Maps iterate in insertion order) down to `max`. */
function prune(map: Map<string, Grant>, now: number, max: number): void {
  for (const [key, grant] of map) if (grant.expiresAt <= now) map.delete(key);
  for (const key of map.keys()) {
    if (map.size < max) break;
    map.delete(key);
  }
}

export class DashboardSessions {
  readonly #tokens: TokenService;
  readonly #now: () => number;
  readonly #codes = new Map<string, Grant>();
  readonly #sessions = new Map<string, Grant>();

  constructor(deps: { tokens: TokenService; now?: () => number }) {
    this.#tokens = deps.tokens;
    this.#now = deps.now ?? Date.now;
  }

  /** A one-time sign-in code carrying the rights of the token with this sha256. */
  issueCode(tokenDigest: string): { readonly code: string; readonly expiresAt: number } {
    const now = this.#now();
    prune(this.#codes, now, MAX_CODES);
    const code = newSecret();
    const expiresAt = now + SIGN_IN_CODE_MS;
    this.#codes.set(digestOf(code), { tokenDigest, expiresAt });
    return { code, expiresAt };
  }

  /** Opens a session for a code, which is used up whether or not its token still holds. */
  async redeem(code: string): Promise<Redeemed> {
    const key = digestOf(code);
    const grant = this.#codes.get(key);
    this.#codes.delete(key);
    const now = this.#now();
    if (!grant || grant.expiresAt <= now)
      return {
        ok: false,
        problem:
          'this sign-in link is unknown, was used already or has expired (links work once, for 15 minutes)',
      };
    const check = await this.#tokens.checkDigest(grant.tokenDigest);
    if (!check.ok) return { ok: false, problem: `the link's token no longer holds: ${check.problem}` };
    prune(this.#sessions, now, MAX_SESSIONS);
    const session = newSecret();
    const expiresAt = now + SESSION_MS;
    this.#sessions.set(digestOf(session), { tokenDigest: grant.tokenDigest, expiresAt });
    return { ok: true, session, expiresAt };
  }

  /** Who holds this session: its token's check, or why it is refused. Sync when the token is cached. */
  check(session: string): TokenCheck | Promise<TokenCheck> {
    const grant = this.#sessions.get(digestOf(session));
    if (!grant || grant.expiresAt <= this.#now())
      return { ok: false, problem: 'the dashboard session is unknown or has expired; sign in again' };
    return this.#tokens.checkCachedDigest(grant.tokenDigest) ?? this.#tokens.checkDigest(grant.tokenDigest);
  }

  /** When the session ends, or undefined when it is not open. */
  expiresAt(session: string): number | undefined {
    const grant = this.#sessions.get(digestOf(session));
    return grant && grant.expiresAt > this.#now() ? grant.expiresAt : undefined;
  }

  /** Signs the session out. */
  end(session: string): void {
    this.#sessions.delete(digestOf(session));
  }
}
