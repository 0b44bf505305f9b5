// Story: two controllers run on one PostgreSQL store. A flag change made through controller A is
// answered by controller B's OFREP at once (LISTEN/NOTIFY), and pushed to an in-process flagd
// provider on B's sync listener; a kill switch too. When B's LISTEN connection is killed, B
// reconnects, reloads what it missed and keeps following.
// Real server processes and a real PostgreSQL database (REWIND_TEST_DATABASE_URL).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FlagdProvider } from '@openfeature/flagd-provider';
import { OpenFeature } from '@openfeature/server-sdk';
import pg from 'pg';
import { FLAG_SETS_CHANNEL } from '../../src/store/pg-change-feed.ts';
import { createTarget, type TestTarget } from '../support/db-targets.ts';
import { freePort, type Harness, oneShopConfig, startRewind, waitFor } from '../support/rewind-harness.ts';

let db: TestTarget;
let a: Harness;
let b: Harness;
let bSyncPort: number;

const flagSet = (checkout: string) => ({
  flags: {
    checkout: { state: 'ENABLED', variants: { v1: 'v1', v2: 'v2' }, defaultVariant: checkout },
    recommendations: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
  },
});

/** The flag's OFREP answer from controller `h`. */
async function answer(h: Harness, key: string): Promise<{ value?: unknown; reason?: string }> {
  const r = await h.fetch(`${h.apiUrl}/api/v1/apps/shop/ofrep/v1/evaluate/flags/${key}`, {
    method: 'POST',
    body: JSON.stringify({ context: { targetingKey: 'u1' } }),
  });
  return r.json() as Promise<{ value?: unknown; reason?: string }>;
}

/** Polls B's OFREP without pause until `done`; returns the milliseconds since `since`. */
async function seenBy(h: Harness, key: string, done: (a: { value?: unknown; reason?: string }) => boolean) {
  const since = performance.now();
  await waitFor(`${key} changed on the second controller`, async () => done(await answer(h, key)), 2000);
  return performance.now() - since;
}

before(async () => {
  db = await createTarget('postgres');
  const env = { REWIND_DATABASE_URL: db.url };
  a = await startRewind({ config: (port) => oneShopConfig(port), env });
  bSyncPort = await freePort();
  b = await startRewind({
    config: (port) =>
      `${oneShopConfig(port)}server:\n  flagSync: { listen: 127.0.0.1:${bSyncPort}, auth: none }\n`,
    env,
  });
});
after(async () => {
  await OpenFeature.close();
  await b?.close();
  await a?.close();
  await db?.cleanup();
});

test('a change through controller A is answered by controller B within 2 s', async () => {
  const first = await a.fetch(`${a.apiUrl}/api/v1/apps/shop/flags`, {
    method: 'PUT',
    body: JSON.stringify({ document: flagSet('v1'), reason: 'launch' }),
  });
  assert.equal(first.status, 200, await first.clone().text());
  // B loads the app's set on its first request; from then on it holds it and must follow.
  await waitFor('B serves version 1', async () => (await answer(b, 'checkout')).value === 'v1');

  const put = await a.fetch(`${a.apiUrl}/api/v1/apps/shop/flags`, {
    method: 'PUT',
    body: JSON.stringify({ document: flagSet('v2'), reason: 'switch checkout' }),
  });
  assert.equal(put.status, 200);
  const ms = await seenBy(b, 'checkout', (r) => r.value === 'v2');
  process.stdout.write(`# propagation A -> B: ${ms.toFixed(1)} ms after A answered\n`);
  // B's OFREP worker (its own port) is given the set as well.
  const fromWorker = async () => {
    const r = await b.fetch(`${b.ofrepUrl}/api/v1/apps/shop/ofrep/v1/evaluate/flags/checkout`, {
      method: 'POST',
      body: JSON.stringify({ context: { targetingKey: 'u1' } }),
    });
    return ((await r.json()) as { value?: string }).value;
  };
  await waitFor("v2 on B's OFREP port", async () => (await fromWorker()) === 'v2', 2000);
});

test("a change through A reaches an in-process flagd provider on B's sync listener", async () => {
  await OpenFeature.setProviderAndWait(
    'on-b',
    new FlagdProvider({
      resolverType: 'in-process',
      host: '127.0.0.1',
      port: bSyncPort,
      selector: 'shop',
      deadlineMs: 10_000,
    }),
  );
  const client = OpenFeature.getClient('on-b');
  assert.equal(await client.getStringValue('checkout', 'none', { targetingKey: 'u1' }), 'v2');
  const put = await a.fetch(`${a.apiUrl}/api/v1/apps/shop/flags`, {
    method: 'PUT',
    body: JSON.stringify({ document: flagSet('v1'), reason: 'back to v1' }),
  });
  assert.equal(put.status, 200);
  const since = performance.now();
  await waitFor(
    'the provider on B',
    async () => (await client.getStringValue('checkout', 'none', { targetingKey: 'u1' })) === 'v1',
    2000,
  );
  process.stdout.write(
    `# A -> provider on B: ${(performance.now() - since).toFixed(1)} ms after A answered\n`,
  );
});

test('a kill switch through A disables the flag on B; a change through B builds on it', async () => {
  const off = await a.fetch(`${a.apiUrl}/api/v1/apps/shop/flags/recommendations/disable`, {
    method: 'POST',
    body: JSON.stringify({ reason: 'recs slow' }),
  });
  assert.equal(off.status, 200);
  await seenBy(b, 'recommendations', (r) => r.reason === 'DISABLED' || r.value === undefined);
  // B's next change starts from A's version, not from the one B held before.
  const on = await b.fetch(`${b.apiUrl}/api/v1/apps/shop/flags/checkout`, {
    method: 'PUT',
    body: JSON.stringify({
      definition: { state: 'ENABLED', variants: { v1: 'v1', v3: 'v3' }, defaultVariant: 'v3' },
    }),
  });
  assert.equal(on.status, 200);
  const flags = (await (await b.fetch(`${b.apiUrl}/api/v1/apps/shop/flags`)).json()) as {
    flags: Record<string, { state: string }>;
  };
  assert.equal(flags.flags.recommendations?.state, 'DISABLED', 'the kill switch made through A stays');
  await seenBy(a, 'checkout', (r) => r.value === 'v3');
});

test("B's LISTEN connection dropped: B reconnects, reloads what it missed and keeps following", async () => {
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  try {
    const listeners = async () =>
      (
        await admin.query(
          `select pid from pg_stat_activity where datname = current_database() and query = $1`,
          [`LISTEN ${FLAG_SETS_CHANNEL}`],
        )
      ).rows.map((r) => r.pid as number);
    assert.equal((await listeners()).length, 2, 'one LISTEN connection per controller');
    // A version written with no notification at all (as if sent while B was deaf): only the resync
    // after a reconnect can bring it to B.
    const newest = (await admin.query(`select max(version) as v from flag_sets where app = 'shop'`)).rows[0]
      .v as number;
    await admin.query(
      `insert into flag_sets (app, version, document, author, reason, diff, copied_from, created_at)
       values ('shop', $1, $2, 'test', 'written unheard', '[]', null, $3)`,
      [newest + 1, JSON.stringify(flagSet('v1')), Date.now()],
    );
    assert.equal((await answer(b, 'checkout')).value, 'v3', 'B has not heard of it');
    for (const pid of await listeners()) await admin.query('select pg_terminate_backend($1)', [pid]);
    await waitFor('B reloads after reconnecting', async () => (await answer(b, 'checkout')).value === 'v1');
    assert.match(b.output(), /lost the PostgreSQL LISTEN connection/, 'the operator is told');
    await waitFor('both controllers listen again', async () => (await listeners()).length === 2);
    await a.fetch(`${a.apiUrl}/api/v1/apps/shop/flags`, {
      method: 'PUT',
      body: JSON.stringify({ document: flagSet('v2'), reason: 'after the reconnect' }),
    });
    await seenBy(b, 'checkout', (r) => r.value === 'v2');
  } finally {
    await admin.end();
  }
});
