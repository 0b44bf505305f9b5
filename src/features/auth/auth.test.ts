// The pure parts of access control: roles, dangerous env keys, the audit chain; and the token
// service against a real SQLite store.
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseExpiry } from '../../shared/duration.ts';
import { openStore } from '../../store/open-store.ts';
import { AUDIT_GENESIS, type AuditRecord, type NewAuditEntry, type Store } from '../../store/types.ts';
import { ensureAdminToken } from './admin-token.ts';
import { auditHash, verifyAuditChain } from './audit-chain.ts';
import { dangerousEnvKeys, isDangerousEnvKey } from './env-policy.ts';
import { OfrepTokens } from './ofrep-tokens.ts';
import { roleAtLeast } from './roles.ts';
import { TokenService } from './token-service.ts';

describe('roles', () => {
  test('each role can do what the weaker ones can, and no more', () => {
    const table: [Parameters<typeof roleAtLeast>[0], Parameters<typeof roleAtLeast>[1], boolean][] = [
      ['viewer', 'viewer', true],
      ['viewer', 'deployer', false],
      ['viewer', 'admin', false],
      ['deployer', 'viewer', true],
      ['deployer', 'deployer', true],
      ['deployer', 'admin', false],
      ['admin', 'viewer', true],
      ['admin', 'deployer', true],
      ['admin', 'admin', true],
    ];
    for (const [held, needed, ok] of table)
      assert.equal(roleAtLeast(held, needed), ok, `${held} >= ${needed}`);
  });
});

describe('dangerous env keys', () => {
  test('keys that change how code is loaded are dangerous; ordinary ones are not', () => {
    for (const key of [
      'NODE_OPTIONS',
      'LD_PRELOAD',
      'LD_LIBRARY_PATH',
      'DYLD_INSERT_LIBRARIES',
      'PYTHONPATH',
      'PYTHONSTARTUP',
      'PATH',
      'JAVA_TOOL_OPTIONS',
      'PERL5OPT',
      'RUBYOPT',
      'BASH_ENV',
      'ENV',
    ])
      assert.ok(isDangerousEnvKey(key), key);
    for (const key of ['SHOP_ERROR_RATE', 'PORT', 'DATABASE_URL', 'NODE_ENV', 'LOG_LEVEL'])
      assert.ok(!isDangerousEnvKey(key), key);
  });

  test('run.allowEnv widens the list per app', () => {
    const env = { NODE_OPTIONS: '--max-old-space-size=512', LD_PRELOAD: '/x.so', SHOP_X: '1' };
    assert.deepEqual(dangerousEnvKeys(env, []), ['NODE_OPTIONS', 'LD_PRELOAD']);
    assert.deepEqual(dangerousEnvKeys(env, ['NODE_OPTIONS']), ['LD_PRELOAD']);
  });
});

describe('the audit chain', () => {
  const chain = (n: number): AuditRecord[] => {
    const out: AuditRecord[] = [];
    let prev = AUDIT_GENESIS;
    for (let i = 0; i < n; i++) {
      const e: NewAuditEntry = {
        at: 1_700_000_000_000 + i,
        actor: 'ci',
        role: 'deployer',
        remote: '127.0.0.1',
        method: 'POST',
        route: '/api/v1/apps/:app/deploy',
        app: 'shop',
        revision: i + 1,
        outcome: 'allowed',
        status: 202,
        reason: `r${i}`,
      };
      const hash = auditHash(prev, e);
      out.push({ ...e, id: i + 1, prevHash: prev, hash });
      prev = hash;
    }
    return out;
  };

  test('an intact chain verifies', () => {
    assert.deepEqual(verifyAuditChain(chain(5), AUDIT_GENESIS), { ok: true, entries: 5 });
    assert.deepEqual(verifyAuditChain([], AUDIT_GENESIS), { ok: true, entries: 0 });
  });

  test('an edited entry is named', () => {
    const c = chain(5);
    c[2] = { ...c[2]!, outcome: 'refused' };
    const v = verifyAuditChain(c, AUDIT_GENESIS);
    assert.equal(v.ok, false);
    assert.equal(!v.ok && v.id, 3);
    assert.match(!v.ok ? v.problem : '', /edited/);
  });

  test('a removed entry breaks the link of the one after it', () => {
    const c = chain(5);
    c.splice(1, 1);
    const v = verifyAuditChain(c, AUDIT_GENESIS);
    assert.equal(!v.ok && v.id, 3);
    assert.match(!v.ok ? v.problem : '', /removed or edited/);
  });

  test('an edit that recomputes its own hash still breaks the next link', () => {
    const c = chain(4);
    const edited = { ...c[1]!, reason: 'nothing to see' };
    c[1] = { ...edited, hash: auditHash(edited.prevHash, edited) };
    const v = verifyAuditChain(c, AUDIT_GENESIS);
    assert.equal(!v.ok && v.id, 3);
  });
});

describe('tokens', () => {
  let dir: string;
  let store: Store;
  let now = 1_700_000_000_000;
  let tokens: TokenService;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rewind-auth-'));
    store = await openStore({ dataDir: dir });
    tokens = new TokenService({ store, now: () => now });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a token is 256 random bits, kept only as its hash, and names its bearer', async () => {
    const { token, record } = await tokens.create({ name: 'ci', role: 'deployer', app: 'shop' });
    assert.match(token, /^rwt_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(record.hash, token);
    assert.ok(!JSON.stringify(await store.tokens.list()).includes(token));
    assert.deepEqual(await tokens.check(token), {
      ok: true,
      principal: { name: 'ci', role: 'deployer', app: 'shop' },
    });
    assert.deepEqual(await tokens.check(`${token}x`), { ok: false, problem: 'the token is not known' });
  });

  test('an expired token and a revoked token are refused, saying why', async () => {
    const short = await tokens.create({ name: 'short', role: 'viewer', expires: '1h' });
    assert.equal((await tokens.check(short.token)).ok, true);
    now += 3_600_001;
    assert.match(JSON.stringify(await tokens.check(short.token)), /expired/);
    const gone = await tokens.create({ name: 'gone', role: 'viewer' });
    await tokens.revoke('gone');
    assert.match(JSON.stringify(await tokens.check(gone.token)), /revoked/);
    await assert.rejects(tokens.revoke('gone'), { code: 'TOKEN_NOT_FOUND' });
  });

  test('bad input names the field, the value and the fix', async () => {
    await assert.rejects(tokens.create({ name: 'bad name', role: 'viewer' }), /name: "bad name"/);
    await assert.rejects(tokens.create({ name: 'x', role: 'root' }), /role: "root" is not one of viewer/);
    await assert.rejects(
      tokens.create({ name: 'x', role: 'viewer', expires: 'soon' }),
      /expires: "soon".*30d/,
    );
    await tokens.create({ name: 'dup', role: 'viewer' });
    await assert.rejects(tokens.create({ name: 'dup', role: 'viewer' }), { code: 'TOKEN_NAME_TAKEN' });
    assert.equal(parseExpiry('30d'), 30 * 86_400_000);
    assert.equal(parseExpiry('2w'), 14 * 86_400_000);
    assert.equal(parseExpiry('90m'), 90 * 60_000);
    assert.equal(parseExpiry('0d'), undefined);
  });

  test('the admin token file: created 0600 once, kept while valid, replaced when not', async () => {
    const first = await ensureAdminToken(dir, tokens);
    assert.equal(first.created, true);
    assert.equal((await stat(first.path)).mode & 0o777, 0o600);
    const again = await ensureAdminToken(dir, tokens);
    assert.deepEqual({ ...again, created: false }, { ...first, created: false });
    assert.equal(again.created, false);
    await tokens.revoke(first.name);
    const replaced = await ensureAdminToken(dir, tokens);
    assert.equal(replaced.created, true);
    assert.equal(replaced.name, first.name, 'the name is free again once revoked');
  });

  test('an OFREP token opens its own app only', () => {
    const ofrep = OfrepTokens.forDataDir(dir);
    const same = OfrepTokens.forDataDir(dir);
    assert.equal(ofrep.tokenFor('shop'), same.tokenFor('shop'), 'stable across restarts');
    assert.ok(ofrep.matches('shop', ofrep.tokenFor('shop')));
    assert.ok(!ofrep.matches('other', ofrep.tokenFor('shop')));
    assert.ok(!ofrep.matches('shop', 'rwf_short'));
  });
});
