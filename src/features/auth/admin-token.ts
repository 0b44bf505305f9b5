// Zero set-up on one machine: the first server on a data dir writes an admin token into
// <dataDir>/admin.token (0600); the CLI on the same machine reads it from there.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashToken, type TokenService } from './token-service.ts';

export const ADMIN_TOKEN_FILE = 'admin.token';

/**
 * Makes sure <dataDir>/admin.token holds a valid admin token: keeps a valid one, else creates a
 * new token (named admin, or admin-2... when that name is taken) and writes it. Never revokes.
 */
export async function ensureAdminToken(
  dataDir: string,
  tokens: TokenService,
): Promise<{
  readonly path: string;
  readonly created: boolean;
  readonly name: string;
  /** The token's sha256: what a dashboard session opened for the admin holds (never the token). */
  readonly digest: string;
}> {
  const path = join(dataDir, ADMIN_TOKEN_FILE);
  if (existsSync(path)) {
    const token = readFileSync(path, 'utf8').trim();
    const check = await tokens.check(token);
    if (check.ok && check.principal.role === 'admin') {
      chmodSync(path, 0o600);
      return { path, created: false, name: check.principal.name, digest: hashToken(token) };
    }
  }
  const name = await tokens.freeName('admin');
  const { token } = await tokens.create({ name, role: 'admin' });
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return { path, created: true, name, digest: hashToken(token) };
}
