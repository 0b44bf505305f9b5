// Sign-in codes and dashboard sessions over a real token service and SQLite store, on a fake clock.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openStore } from '../../store/open-store.ts';
import type { Store } from '../../store/types.ts';
import { DashboardSessions, SESSION_MS, SIGN_IN_CODE_MS } from './dashboard-sessions.ts';
import { hashToken, TokenService } from './token-service.ts';

describe('dashboard sessions', () => {
  let dir: string;
  let store: Store;
  let clock = 1_800_000_000_000;
  const now = () => clock;
  let tokens: TokenService;
  let sessions: DashboardSessions;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rewind-sessions-'));
    store = await openStore({ dataDir: dir });
    tokens = new TokenService({ store, now });
    sessions = new DashboardSessions({ tokens, now });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const tokenFor = async (name: string, role: 'viewer' | 'deployer' | 'admin', app: string | null = null) =>
    hashToken((await tokens.create({ name, role, app })).token);

  test('a code opens one session carrying its token: name, role and app scope', async () => {
    const { code, expiresAt } = sessions.issueCode(await tokenFor('alice', 'deployer', 'shop'));
    assert.equal(expiresAt, clock + SIGN_IN_CODE_MS);
    const opened = await sessions.redeem(code);
    assert.ok(opened.ok);
    assert.equal(opened.expiresAt, clock + SESSION_MS);
    assert.deepEqual(await sessions.check(opened.session), {
      ok: true,
      principal: { name: 'alice', role: 'deployer', app: 'shop' },
    });
    assert.equal(sessions.expiresAt(opened.session), clock + SESSION_MS);
  });

  test('a code works once', async () => {
    const { code } = sessions.issueCode(await tokenFor('bob', 'viewer'));
    assert.ok((await sessions.redeem(code)).ok);
    const again = await sessions.redeem(code);
    assert.equal(again.ok, false);
    assert.match(!again.ok ? again.problem : '', /used already/);
  });

  test('a code expires after 15 minutes; a session after 12 hours', async () => {
    const digest = await tokenFor('carol', 'viewer');
    const late = sessions.issueCode(digest);
    const early = sessions.issueCode(digest);
    const opened = await sessions.redeem(early.code);
    assert.ok(opened.ok);
    clock += SIGN_IN_CODE_MS;
    assert.equal((await sessions.redeem(late.code)).ok, false);
    assert.ok((await sessions.check(opened.session)).ok);
    clock += SESSION_MS;
    const expired = await sessions.check(opened.session);
    assert.equal(expired.ok, false);
    assert.equal(sessions.expiresAt(opened.session), undefined);
  });

  test('revoking the token ends its sessions; a code of a revoked token opens nothing', async () => {
    const digest = await tokenFor('dave', 'admin');
    const opened = await sessions.redeem(sessions.issueCode(digest).code);
    assert.ok(opened.ok);
    const unused = sessions.issueCode(digest);
    await tokens.revoke('dave');
    clock += 3000; // past the token cache
    const check = await sessions.check(opened.session);
    assert.equal(check.ok, false);
    assert.match(!check.ok ? check.problem : '', /revoked/);
    const refused = await sessions.redeem(unused.code);
    assert.equal(refused.ok, false);
    assert.match(!refused.ok ? refused.problem : '', /revoked/);
  });

  test('signing out ends the session; an unknown session is refused', async () => {
    const opened = await sessions.redeem(sessions.issueCode(await tokenFor('erin', 'viewer')).code);
    assert.ok(opened.ok);
    sessions.end(opened.session);
    assert.equal((await sessions.check(opened.session)).ok, false);
    assert.equal((await sessions.check('not-a-session')).ok, false);
  });
});
