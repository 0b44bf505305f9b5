// Per-app read-only flag tokens for OFREP: HMAC(key, app) with a key kept in <dataDir>/ofrep.key
// (0600), so that instances adopted by a restarted server keep the token they were started with.
// Handed to each instance as REWIND_OFREP_TOKEN; it opens the app's OFREP routes and nothing else.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const OFREP_KEY_FILE = 'ofrep.key';

export class OfrepTokens {
  readonly #key: Buffer;
  /** Computed once per app: matches() runs on every OFREP request. */
  readonly #expected = new Map<string, Buffer>();

  constructor(key: Buffer) {
    this.#key = key;
  }

  /** The key of a data dir, created at first use. */
  static forDataDir(dataDir: string): OfrepTokens {
    const path = join(dataDir, OFREP_KEY_FILE);
    if (!existsSync(path)) writeFileSync(path, randomBytes(32).toString('base64url'), { mode: 0o600 });
    chmodSync(path, 0o600);
    return new OfrepTokens(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64url'));
  }

  /** The key itself, for the OFREP worker thread that checks flag tokens off the API's loop. */
  key(): Buffer {
    return this.#key;
  }

  tokenFor(app: string): string {
    return `rwf_${createHmac('sha256', this.#key).update(`ofrep:${app}`).digest('base64url')}`;
  }

  matches(app: string, token: string): boolean {
    let expected = this.#expected.get(app);
    if (!expected) {
      expected = Buffer.from(this.tokenFor(app));
      if (this.#expected.size < 10_000) this.#expected.set(app, expected);
    }
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
