// OFREP off the API's event loop: a real worker thread on a real socket, fed by a real FlagService
// over a real SQLite store. A change is served before the call that made it returns; a killed
// worker comes back with the sets in force; a blocked main thread does not hold OFREP answers.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { waitFor } from '../../test/support/rewind-harness.ts';
import { OfrepTokens } from '../features/auth/ofrep-tokens.ts';
import { TokenService } from '../features/auth/token-service.ts';
import { FlagService } from '../features/flags/flag-service.ts';
import { silentLogger } from '../shared/logger.ts';
import { openStore } from '../store/open-store.ts';
import type { Store } from '../store/types.ts';
import { OfrepHost } from './ofrep-host.ts';

const dir = mkdtempSync(join(tmpdir(), 'rewind-ofrep-host-'));
let store: Store;
let flags: FlagService;
let tokens: TokenService;
let host: OfrepHost;
const flagTokens = OfrepTokens.forDataDir(dir);
const meta = { author: 'test' };

const document = {
  metadata: { app: 'shop' },
  flags: {
    checkout: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
    color: {
      state: 'ENABLED',
      variants: { red: '#f00', blue: '#00f' },
      defaultVariant: 'red',
      targeting: { if: [{ '==': [{ var: 'plan' }, 'pro'] }, 'blue'] },
    },
  },
};

const url = (path: string) => `http://127.0.0.1:${host.port()}/api/v1/apps/${path}`;
const ofrep = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url(path), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${flagTokens.tokenFor('shop')}`,
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const checkout = async () => {
  const r = await ofrep('shop/ofrep/v1/evaluate/flags/checkout', { context: {} });
  return { status: r.status, body: (await r.json()) as { value?: boolean; reason?: string } };
};

before(async () => {
  store = await openStore({ dataDir: dir });
  for (const app of ['shop', 'other']) await store.apps.upsert(app, {});
  tokens = new TokenService({ store });
  host = new OfrepHost({
    host: '127.0.0.1',
    port: 0,
    flagTokenKey: flagTokens.key(),
    checkToken: (token) => tokens.check(token),
    log: silentLogger,
  });
  flags = new FlagService({
    store,
    onInForce: (app, now) => host.publish(app, now.version, now.set),
  });
  await flags.replace('shop', document, meta);
  const sets = [];
  for (const app of ['shop', 'other']) {
    const now = await flags.current(app);
    sets.push({ app, version: now.version, document: now.set });
  }
  await host.start(sets);
});

after(async () => {
  await host.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('answers from the pushed sets: single, bulk with ETag and 304, unknown flag and app', async () => {
  const pro = await ofrep('shop/ofrep/v1/evaluate/flags/color', { context: { plan: 'pro' } });
  assert.equal(pro.status, 200);
  assert.match(pro.headers.get('content-type') ?? '', /^application\/json/);
  assert.deepEqual(await pro.json(), {
    key: 'color',
    value: '#00f',
    reason: 'TARGETING_MATCH',
    variant: 'blue',
    metadata: { app: 'shop' },
  });
  const bulk = await ofrep('shop/ofrep/v1/evaluate/flags', { context: { plan: 'pro' } });
  const etag = bulk.headers.get('etag') ?? '';
  assert.match(etag, /^"1-[\w-]{16}"$/);
  assert.deepEqual(
    ((await bulk.json()) as { flags: { key: string }[] }).flags.map((f) => f.key),
    ['checkout', 'color'],
  );
  // The cached 304, twice: the first from evaluation, the second from the body cache.
  for (let i = 0; i < 2; i++) {
    const again = await ofrep(
      'shop/ofrep/v1/evaluate/flags',
      { context: { plan: 'pro' } },
      { 'if-none-match': etag },
    );
    assert.equal(again.status, 304);
    assert.equal(again.headers.get('etag'), etag);
  }
  const reordered = await ofrep('shop/ofrep/v1/evaluate/flags', '{ "context": {"plan":"pro"} }', {
    'if-none-match': `W/${etag}`,
  });
  assert.equal(reordered.status, 304, 'another spelling of the same context, a weak tag');
  const other = await ofrep(
    'shop/ofrep/v1/evaluate/flags',
    { context: { plan: 'free' } },
    { 'if-none-match': etag },
  );
  assert.equal(other.status, 200);

  const missing = await ofrep('shop/ofrep/v1/evaluate/flags/nope', {});
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { errorCode: string }).errorCode, 'FLAG_NOT_FOUND');
  const notJson = await ofrep('shop/ofrep/v1/evaluate/flags/color', '{"context":');
  assert.equal(notJson.status, 400);
  assert.equal(((await notJson.json()) as { errorCode: string }).errorCode, 'PARSE_ERROR');
  const unknownApp = await ofrep(
    'nope/ofrep/v1/evaluate/flags',
    {},
    {
      authorization: `Bearer ${flagTokens.tokenFor('nope')}`,
    },
  );
  assert.equal(unknownApp.status, 404);
  assert.deepEqual(await unknownApp.json(), {
    errorCode: 'FLAG_NOT_FOUND',
    errorDetails: 'no app named "nope"; known apps: shop, other',
  });
  const notOfrep = await fetch(url('shop/flags'));
  assert.equal(notOfrep.status, 404);
  assert.match(await notOfrep.text(), /serves OFREP only/);
});

test('admission as on the API: flag token of its own app, API tokens by role and scope, Host, type', async () => {
  const path = 'shop/ofrep/v1/evaluate/flags';
  assert.equal(
    (await ofrep(path, {}, { authorization: `Bearer ${flagTokens.tokenFor('other')}` })).status,
    401,
  );
  const none = await ofrep(path, {}, { authorization: '' });
  assert.equal(none.status, 401);
  assert.match(((await none.json()) as { errorDetails: string }).errorDetails, /^no token/);
  const viewer = await tokens.create({ name: 'viewer', role: 'viewer' });
  assert.equal((await ofrep(path, {}, { authorization: `Bearer ${viewer.token}` })).status, 200);
  const scoped = await tokens.create({ name: 'other-only', role: 'deployer', app: 'other' });
  const forbidden = await ofrep(path, {}, { authorization: `Bearer ${scoped.token}` });
  assert.equal(forbidden.status, 403);
  assert.match(((await forbidden.json()) as { errorDetails: string }).errorDetails, /scoped to app other/);
  await tokens.revoke('viewer');
  const revoked = await ofrep(path, {}, { authorization: `Bearer ${viewer.token}` });
  assert.equal(revoked.status, 401, 'a revoke holds at once: the worker asks the main thread');
  assert.equal((await ofrep(path, {}, { 'content-type': 'text/plain' })).status, 415);
  // fetch() sets Host itself: a raw request names another one, as a DNS-rebinding page would.
  const foreignHost = await new Promise<number | undefined>((resolve, reject) =>
    request(
      url(path),
      { method: 'POST', headers: { host: 'evil.example', 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        resolve(res.statusCode);
      },
    )
      .on('error', reject)
      .end('{}'),
  );
  assert.equal(foreignHost, 421);
});

test('a change is served by the worker before the call that made it returns', async () => {
  for (let i = 0; i < 10; i++) {
    const state = i % 2 === 0 ? 'DISABLED' : 'ENABLED';
    const { record } = await flags.setState('shop', 'checkout', state, meta);
    const r = await checkout();
    assert.equal(r.status, 200);
    // A disabled flag: reason DISABLED and no value, so the app uses its code default.
    assert.deepEqual(
      [r.body.reason, r.body.value],
      state === 'DISABLED' ? ['DISABLED', undefined] : ['STATIC', true],
      `version ${record.version}: ${state}`,
    );
  }
  const back = await flags.rollback('shop', 1, meta);
  const r = await ofrep('shop/ofrep/v1/evaluate/flags', {});
  assert.match(r.headers.get('etag') ?? '', new RegExp(`^"${back.record.version}-`));
});

test('a dead worker is restarted with the sets in force, changes made while it was down included', async () => {
  const before = host.health();
  const dead = host.worker()!;
  const exited = new Promise((resolve) => dead.once('exit', resolve));
  await dead.terminate();
  await exited;
  // While it is down: a change (the API call does not wait for a worker that is not there).
  await flags.setState('shop', 'checkout', 'DISABLED', meta);
  await waitFor(
    'the worker back',
    async () => host.health().restarts === before.restarts + 1 && host.health().ok,
  );
  assert.notEqual(host.worker(), dead);
  assert.equal((await checkout()).body.reason, 'DISABLED');
  await flags.setState('shop', 'checkout', 'ENABLED', meta);
  assert.equal((await checkout()).body.value, true);
});

/** A client in its own process: requests back to back for `ms`, each as [start, latency] in ms. */
const CLIENT = `
const [url, token, ms] = process.argv.slice(1);
const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 1 });
const http = await import('node:http');
const post = () => new Promise((resolve, reject) => {
  const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token } }, (res) => {
    res.resume();
    res.on('end', () => resolve(res.statusCode));
  });
  req.on('error', reject);
  req.end('{"context":{"plan":"pro"}}');
});
await post();
process.stdout.write('ready\\n');
const samples = [];
const end = Date.now() + Number(ms);
while (Date.now() < end) {
  const start = Date.now();
  const t0 = performance.now();
  const status = await post();
  samples.push([start, performance.now() - t0, status]);
}
process.stdout.write(JSON.stringify(samples) + '\\n');
`;

test('OFREP answers while the main thread is blocked for 200 ms at a time', async () => {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      CLIENT,
      url('shop/ofrep/v1/evaluate/flags/color'),
      flagTokens.tokenFor('shop'),
      '3000',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await waitFor('the client ready', async () => out.startsWith('ready'));
  const blocks: [number, number][] = [];
  for (let i = 0; i < 3; i++) {
    const start = Date.now();
    while (Date.now() - start < 200) {
      // The API's loop stalled, as a long synchronous SQLite write or a busy tick stalls it.
    }
    blocks.push([start, Date.now()]);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await exited;
  const samples = JSON.parse(out.split('\n')[1]!) as [number, number, number][];
  const during = samples.filter(([start]) => blocks.some(([a, b]) => start >= a && start < b));
  assert.ok(during.length >= 10, `requests answered while the main thread was blocked: ${during.length}`);
  assert.ok(during.every(([, , status]) => status === 200));
  // Answered before the block ended: impossible for a server on the blocked loop, whatever the
  // machine's load (a latency bound would depend on it).
  for (const [a, b] of blocks) {
    const inside = samples.filter(([start, latency]) => start >= a && start + latency < b);
    assert.ok(
      inside.length >= 1,
      `no answer both asked and received while the main thread was blocked (${a}-${b})`,
    );
  }
});

test('a set the worker cannot load leaves the previous one in force, and the worker up', async () => {
  const before = host.health();
  const dead = host.worker();
  const broken = { flags: { checkout: { state: 'ENABLED', variants: {}, defaultVariant: 'nope' } } };
  await host.publish('shop', 10_000, broken as unknown as Parameters<OfrepHost['publish']>[2]);
  assert.equal((await checkout()).body.value, true);
  assert.deepEqual(host.health(), before);
  assert.equal(host.worker(), dead, 'not restarted');
});
