// Story: the control plane is locked. Every route in the OpenAPI document wants a token with the
// right role; a foreign Host or Origin and a bodyless cross-site POST are refused; an app's
// processes see their own secrets and nothing of Rewind's; every mutation, allowed or refused,
// is in a hash chain that shows an edited entry.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { ROUTE_POLICIES } from '../../src/server/route-policy.ts';
import { freePort, type Harness, ROOT, runCli, startRewind, waitFor } from '../support/rewind-harness.ts';

const KEY = randomBytes(32).toString('base64');
let h: Harness;
let otherPort: number;
const tokens: Record<string, string> = {};

const appYaml = (name: string, port: number) => `  - name: ${name}
    listen: 127.0.0.1:${port}
    run:
      command: node ${join(ROOT, 'examples/shop/server.js')}
      env: { SHOP_VERSION: "\${version}" }
      instances: 1
      stopTimeout: 2s
      allowEnv: [${name === 'other' ? 'NODE_OPTIONS' : ''}]
    health: { path: /healthz, interval: 100ms, timeout: 500ms, startTimeout: 5s }
    strategy: { blueGreen: { bake: 0s, keepPreviousWarm: 1m, drainTimeout: 1s } }
`;

/** A raw HTTP request, so Host and Origin can be anything. */
function raw(
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string }> {
  const url = new URL(h.apiUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path, method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const asToken = (token: string | null, method: string, path: string, body?: unknown) =>
  fetch(`${h.apiUrl}${path}`, {
    method,
    headers: {
      ...(token && { authorization: `Bearer ${token}` }),
      ...(method !== 'GET' && { 'content-type': 'application/json' }),
    },
    ...(method !== 'GET' && { body: JSON.stringify(body ?? {}) }),
  });

const cliAs = (token: string, ...args: string[]) =>
  runCli(args, h.apiUrl, join(h.dir, 'nowhere'), { REWIND_TOKEN: token });

function environOf(pid: number): Record<string, string> {
  const text = readFileSync(`/proc/${pid}/environ`, 'utf8');
  return Object.fromEntries(
    text
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

/** Pids of the running instances of the app's stable revision, from the API. */
async function instancePids(app: string): Promise<number[]> {
  const s = (await (await h.fetch(`${h.apiUrl}/api/v1/apps/${app}`)).json()) as {
    stableRevision: number;
    instances: { pid: number | null; phase: string; revision: number }[];
  };
  return s.instances
    .filter((i) => i.pid !== null && i.phase === 'Running' && i.revision === s.stableRevision)
    .map((i) => i.pid!);
}

/** The instance's own process (the shell's child when the command runs under /bin/sh). */
function processTree(pid: number): number[] {
  const children = readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        return readFileSync(`/proc/${e}/stat`, 'utf8').split(') ')[1]!.split(' ')[1] === String(pid);
      } catch {
        return false;
      }
    })
    .map(Number);
  return [pid, ...children.flatMap(processTree)];
}

before(async () => {
  otherPort = await freePort();
  h = await startRewind({
    env: { REWIND_SECRETS_KEY: KEY },
    config: (port) => `apps:\n${appYaml('shop', port)}${appYaml('other', otherPort)}`,
  });
  await waitFor('both apps at v1', async () => {
    const apps = (await (await h.fetch(`${h.apiUrl}/api/v1/apps`)).json()) as { stableRevision: number }[];
    return apps.length === 2 && apps.every((a) => a.stableRevision === 1);
  });
  for (const [name, role, app] of [
    ['viewer', 'viewer'],
    ['deployer', 'deployer'],
    ['admin2', 'admin'],
    ['other-deployer', 'deployer', 'other'],
  ] as const) {
    const r = await h.cli('tokens', 'create', name, '--role', role, ...(app ? ['--app', app] : []));
    assert.equal(r.code, 0, r.stderr);
    tokens[name] = r.stdout.trim();
  }
});
after(() => h?.close());

describe('every route in the OpenAPI document', () => {
  test('no token: 401; each weaker role: 403 naming the role needed; the right role: past the door', async () => {
    const doc = (await (await h.fetch(`${h.apiUrl}/api/v1/openapi.json`)).json()) as {
      paths: Record<
        string,
        Record<string, { 'x-rewind-role': string; security: unknown[] }> & { servers?: unknown[] }
      >;
    };
    const params: Record<string, string> = {
      app: 'shop',
      id: 'nope',
      key: 'theme',
      version: '1',
      name: 'nobody',
    };
    const roleToken: Record<string, string> = {
      viewer: tokens.viewer!,
      deployer: tokens.deployer!,
      admin: tokens.admin2!,
    };
    const order = ['viewer', 'deployer', 'admin'];
    const checked: string[] = [];
    const publicPaths: string[] = [];
    for (const [template, { servers, ...ops }] of Object.entries(doc.paths)) {
      if (servers) {
        // Outside /api/v1: the public health endpoints, checked below.
        for (const [method, op] of Object.entries(ops)) {
          assert.equal(op['x-rewind-role'], 'public', `${method} ${template}`);
          assert.deepEqual(op.security, [], `${method} ${template} needs no token`);
          publicPaths.push(`${method.toUpperCase()} ${template}`);
        }
        continue;
      }
      const path = `/api/v1${template.replace(/\{(\w+)\}/g, (_, p: string) => params[p]!)}`;
      for (const [method, op] of Object.entries(ops)) {
        const M = method.toUpperCase();
        const role = op['x-rewind-role'];
        assert.ok(role, `${M} ${template} declares its role`);
        assert.ok(op.security.length > 0, `${M} ${template} has security`);
        const none = await asToken(null, M, path);
        assert.equal(none.status, 401, `${M} ${template} without a token`);
        assert.equal(
          ((await none.json()) as { error?: { code: string } }).error?.code ?? 'UNAUTHENTICATED',
          'UNAUTHENTICATED',
        );
        const needed = role === 'ofrep' ? 'viewer' : role;
        for (const weaker of order.slice(0, order.indexOf(needed))) {
          const r = await asToken(roleToken[weaker]!, M, path);
          assert.equal(r.status, 403, `${M} ${template} as ${weaker}`);
          assert.match(
            await r.text(),
            new RegExp(`needs role ${needed}`),
            `${M} ${template} names ${needed}`,
          );
        }
        const ok = await asToken(roleToken[needed]!, M, path);
        // The live stream never ends: its status and headers are the answer, its body is not read.
        const stream = ok.headers.get('content-type')?.startsWith('text/event-stream');
        if (stream) await ok.body?.cancel();
        const answer = stream ? '(event stream)' : await ok.text();
        assert.ok(![401, 403].includes(ok.status), `${M} ${template} as ${needed}: ${ok.status} ${answer}`);
        assert.ok(ok.status < 500, `${M} ${template} as ${needed}: ${ok.status} ${answer}`);
        checked.push(`${M} /api/v1${template}`);
      }
    }
    // The document lists every route the server has, but the few outside it (checked below).
    // The dashboard's pages (GET /, /*) and its sign-in are public and hold no data: checked below.
    const dashboard = ['GET /', 'GET /*', 'GET /signin'];
    const outside = ['GET /metrics', 'GET /api/v1/openapi.json', ...dashboard];
    assert.deepEqual(publicPaths.sort(), ['GET /healthz', 'GET /readyz']);
    assert.deepEqual(
      Object.keys(ROUTE_POLICIES)
        .filter((k) => !outside.includes(k) && !publicPaths.includes(k))
        .sort(),
      checked.sort(),
    );
    for (const path of ['/metrics', '/api/v1/openapi.json']) {
      assert.equal((await asToken(null, 'GET', path)).status, 401, path);
      assert.equal((await asToken(tokens.viewer!, 'GET', path)).status, 200, path);
    }
    // The dashboard's files: a built page or the 503 naming the build, never data and never a 401.
    for (const path of ['/', '/apps/shop']) {
      const r = await asToken(null, 'GET', path);
      assert.ok([200, 503].includes(r.status), `${path}: ${r.status}`);
      assert.doesNotMatch(await r.text(), /"stableRevision"|shop-v1/, `${path} holds no data`);
    }
    const signin = await asToken(null, 'GET', '/signin?code=forged');
    assert.equal(signin.status, 401, 'a forged sign-in code');
    assert.equal(signin.headers.get('set-cookie'), null);
    for (const path of ['/healthz', '/readyz']) {
      const r = await asToken(null, 'GET', path);
      assert.equal(r.status, 200, path);
      // Public: it says what is up, never a pid, a path or an address.
      const body = await r.text();
      assert.ok(!body.includes(h.dir) && !/pid|127\.0\.0\.1|sock/.test(body), `${path}: ${body}`);
    }
  });

  test('a token scoped to one app may not act on another', async () => {
    const r = await asToken(tokens['other-deployer']!, 'POST', '/api/v1/apps/shop/pause', {});
    assert.equal(r.status, 403);
    assert.match(await r.text(), /scoped to app other/);
    const list = (await (await asToken(tokens['other-deployer']!, 'GET', '/api/v1/apps')).json()) as {
      name: string;
    }[];
    assert.deepEqual(
      list.map((a) => a.name),
      ['other'],
    );
    assert.equal((await asToken(tokens['other-deployer']!, 'GET', '/api/v1/tokens')).status, 403);
  });

  test('a revoked token is refused at once', async () => {
    const made = await h.cli('tokens', 'create', 'short-lived', '--role', 'viewer', '--expires', '30d');
    const token = made.stdout.trim();
    assert.equal((await asToken(token, 'GET', '/api/v1/apps')).status, 200);
    assert.equal((await h.cli('tokens', 'revoke', 'short-lived')).code, 0);
    const r = await asToken(token, 'GET', '/api/v1/apps');
    assert.equal(r.status, 401);
    assert.match(await r.text(), /revoked/);
    const list = await h.cli('tokens', 'list');
    assert.match(list.stdout, /short-lived\s+viewer\s+\*\s+revoked/);
    assert.ok(!list.stdout.includes(token));
  });
});

describe('a web page cannot drive the API', () => {
  const auth = () => ({ authorization: `Bearer ${h.token}` });

  test('a foreign Host (DNS rebinding) is refused; the loopback names are ours', async () => {
    const port = new URL(h.apiUrl).port;
    const evil = await raw('/api/v1/apps', { headers: { ...auth(), host: `evil.example:${port}` } });
    assert.equal(evil.status, 421);
    assert.match(evil.body, /HOST_NOT_ALLOWED.*server\.allowedHosts/);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`])
      assert.equal((await raw('/api/v1/apps', { headers: { ...auth(), host } })).status, 200, host);
    assert.equal(
      (await raw('/healthz', { headers: { host: 'lb.internal' } })).status,
      200,
      '/healthz answers health checkers by any name',
    );
  });

  test('a foreign Origin is refused, even with a valid token', async () => {
    const r = await raw('/api/v1/apps/shop/rollback', {
      method: 'POST',
      headers: { ...auth(), origin: 'https://evil.example', 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(r.status, 403);
    assert.match(r.body, /ORIGIN_NOT_ALLOWED/);
  });

  test('a mutation without a JSON body is refused: bodyless and form POSTs', async () => {
    const bodyless = await raw('/api/v1/apps/shop/pause', { method: 'POST', headers: auth() });
    assert.equal(bodyless.status, 415);
    assert.match(bodyless.body, /content-type.*application\/json/);
    const form = await raw('/api/v1/apps/shop/pause', {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'reason=x',
    });
    assert.equal(form.status, 415);
    const doc = await raw('/api/v1/openapi.json', { headers: auth() });
    assert.equal(doc.status, 200);
    assert.ok(!/access-control-allow-origin/i.test(JSON.stringify(doc)), 'no CORS');
  });
});

describe('bad input in query strings', () => {
  test('a version that leaves the migrations folder and an out-of-range integer are 400', async () => {
    const plan = await h.fetch(`${h.apiUrl}/api/v1/apps/shop/db/plan?version=../../outside`);
    assert.equal(plan.status, 400);
    assert.match(await plan.text(), /version \\"\.\.\/\.\.\/outside\\" is not valid/);
    const lint = await h.fetch(`${h.apiUrl}/api/v1/apps/shop/db/lint?version=..%2Fx`);
    assert.equal(lint.status, 400);
    const big = await h.fetch(`${h.apiUrl}/api/v1/apps/shop/revisions?limit=99999999999999999999`);
    assert.equal(big.status, 400);
    assert.match(await big.text(), /limit: .* is not an integer from 0 to 2147483647/);
    const rev = await h.fetch(`${h.apiUrl}/api/v1/apps/shop/config?revision=3000000000`);
    assert.equal(rev.status, 400);
  });
});

describe('dangerous env overrides', () => {
  test('a deployer may not set NODE_OPTIONS; an admin may; run.allowEnv lets deployers', async () => {
    const deployAs = (token: string, app: string, env: string, ...more: string[]) =>
      cliAs(token, 'deploy', app, '--version', 'v2', '--env', env, ...more);
    const refused = await deployAs(tokens.deployer!, 'shop', 'NODE_OPTIONS=--require=/tmp/x.cjs');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /env NODE_OPTIONS changes how the app loads code.*needs role admin/);
    const ld = await deployAs(tokens.deployer!, 'shop', 'LD_PRELOAD=/x.so');
    assert.match(ld.stderr, /LD_PRELOAD.*needs role admin/);
    const allowed = await deployAs(
      tokens.deployer!,
      'other',
      'NODE_OPTIONS=--max-old-space-size=128',
      '--wait',
    );
    assert.equal(allowed.code, 0, allowed.stderr);
    const admin = await deployAs(h.token, 'shop', 'NODE_OPTIONS=--max-old-space-size=128', '--wait');
    assert.equal(admin.code, 0, admin.stderr);
  });
});

describe('secrets stay with their app', () => {
  test('only an admin sets secrets; a deployer may set config', async () => {
    const secret = await cliAs(tokens.deployer!, 'secrets', 'set', 'shop', 'SHOP_API_TOKEN=nope');
    assert.equal(secret.code, 1);
    assert.match(secret.stderr, /setting secrets: needs role admin, token deployer has deployer/);
    const config = await cliAs(
      tokens.deployer!,
      'config',
      'set',
      'shop',
      'SHOP_GREETING=by-deployer',
      '--wait',
    );
    assert.equal(config.code, 0, config.stderr);
  });

  test("no process Rewind started sees the key or the server's REWIND_* settings; each app sees only its own secrets", async () => {
    assert.equal((await h.cli('secrets', 'set', 'shop', 'SHOP_API_TOKEN=shop-only', '--wait')).code, 0);
    assert.equal((await h.cli('secrets', 'set', 'other', 'OTHER_TOKEN=other-only', '--wait')).code, 0);
    const agentPid = Number(readFileSync(join(h.dataDir, 'agent.pid'), 'utf8'));
    const agentEnv = environOf(agentPid);
    assert.ok(!('REWIND_SECRETS_KEY' in agentEnv), 'agent has no key');
    assert.deepEqual(
      Object.keys(agentEnv).filter((k) => k.startsWith('REWIND_')),
      [],
      'agent has no REWIND_* of the server',
    );
    for (const [app, own, foreign] of [
      ['shop', 'SHOP_API_TOKEN', 'OTHER_TOKEN'],
      ['other', 'OTHER_TOKEN', 'SHOP_API_TOKEN'],
    ] as const) {
      const pids = (await instancePids(app)).flatMap(processTree);
      assert.ok(pids.length >= 1, `${app} has processes`);
      for (const pid of pids) {
        const env = environOf(pid);
        const text = JSON.stringify(env);
        assert.ok(!('REWIND_SECRETS_KEY' in env) && !text.includes(KEY), `${app} pid ${pid}: no key`);
        assert.ok(!('REWIND_LOG_LEVEL' in env), `${app} pid ${pid}: no server settings`);
        assert.equal(
          env[own],
          own === 'SHOP_API_TOKEN' ? 'shop-only' : 'other-only',
          `${app} has its secret`,
        );
        assert.ok(!(foreign in env), `${app} pid ${pid} has no secret of the other app`);
        assert.match(env.REWIND_OFREP_TOKEN ?? '', /^rwf_/, `${app} has its flag token`);
      }
    }
  });

  test("an app's flag token opens its own OFREP routes only", async () => {
    const [pid] = await instancePids('shop');
    const flagToken = environOf(processTree(pid!).at(-1)!).REWIND_OFREP_TOKEN!;
    const ofrep = (app: string) =>
      asToken(flagToken, 'POST', `/api/v1/apps/${app}/ofrep/v1/evaluate/flags`, { context: {} });
    assert.equal((await ofrep('shop')).status, 200);
    assert.equal((await ofrep('other')).status, 401);
    assert.equal((await asToken(flagToken, 'GET', '/api/v1/apps/shop')).status, 401);
  });

  test('the data dir is 0700; rewind.db, admin.token and logs are 0600', () => {
    const mode = (p: string) => statSync(p).mode & 0o777;
    assert.equal(mode(h.dataDir), 0o700);
    for (const f of ['rewind.db', 'admin.token', 'agent.log', 'ofrep.key'])
      assert.equal(mode(join(h.dataDir, f)), 0o600, f);
    const logs = join(h.dataDir, 'logs', 'shop');
    for (const f of readdirSync(logs)) assert.equal(mode(join(logs, f)), 0o600, f);
  });
});

describe('the audit trail', () => {
  test('allowed and refused mutations are recorded with who, what and why; --verify catches an edit', async () => {
    await cliAs(tokens.viewer!, 'pause', 'shop', '--reason', 'viewer tries');
    assert.equal(
      (await h.cli('config', 'set', 'shop', 'SHOP_GREETING=hi', '--reason', 'audited change', '--wait')).code,
      0,
    );
    const a = JSON.parse((await h.cli('audit', '--app', 'shop', '--since', '1h', '--json')).stdout) as {
      entries: {
        actor: string;
        role: string;
        route: string;
        outcome: string;
        status: number;
        reason: string;
        revision: number | null;
        remote: string;
      }[];
    };
    const refused = a.entries.find((e) => e.actor === 'viewer' && e.route === '/api/v1/apps/:app/pause');
    assert.ok(refused, 'the refused pause is recorded');
    assert.equal(refused.outcome, 'refused');
    assert.equal(refused.status, 403);
    assert.match(refused.reason, /needs role deployer/);
    const allowed = a.entries.find((e) => e.reason === 'audited change');
    assert.ok(allowed, 'the config change is recorded');
    assert.deepEqual(
      { actor: allowed.actor, role: allowed.role, outcome: allowed.outcome, remote: allowed.remote },
      { actor: 'admin', role: 'admin', outcome: 'allowed', remote: '127.0.0.1' },
    );
    assert.ok(allowed.revision !== null && allowed.revision > 1);
    const dangerous = a.entries.find((e) => /NODE_OPTIONS/.test(e.reason ?? '') && e.outcome === 'allowed');
    assert.ok(dangerous, 'an admin env override is recorded as such');
    const verified = await h.cli('audit', '--verify');
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /chain verified/);
    const db = new DatabaseSync(join(h.dataDir, 'rewind.db'));
    db.prepare("update audit_log set reason = 'nothing happened' where reason = 'audited change'").run();
    db.close();
    const broken = await h.cli('audit', '--verify');
    assert.equal(broken.code, 1);
    assert.match(broken.stdout, /chain BROKEN at entry \d+: .*edited/);
  });
});
