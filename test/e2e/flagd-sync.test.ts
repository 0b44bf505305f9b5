// Story: an app evaluates Rewind's flags in process with OpenFeature's published flagd provider
// (@openfeature/flagd-provider, resolverType in-process) connected to `rewind server`'s flagd sync
// listener (server.flagSync). Values come from flagd's engine in the app's own process; a change
// and a kill switch made through Rewind's API reach it at once (asserted within 2 s, measured).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { FlagdProvider } from '@openfeature/flagd-provider';
import { type Client, OpenFeature } from '@openfeature/server-sdk';
import {
  freePort,
  type Harness,
  oneShopConfig,
  ROOT,
  startRewind,
  waitFor,
} from '../support/rewind-harness.ts';

let h: Harness;
let syncPort: number;
let client: Client;
const DOMAIN = 'flagd-sync-e2e';

const flagSet = {
  flags: {
    recommendations: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
    theme: {
      state: 'ENABLED',
      variants: { light: 'light', dark: 'dark' },
      defaultVariant: 'light',
      targeting: { if: [{ ends_with: [{ var: 'email' }, '@ops.io'] }, 'dark', null] },
    },
  },
};

const api = (path: string, method: string, body: unknown) =>
  h.fetch(`${h.apiUrl}/api/v1/apps/shop${path}`, { method, body: JSON.stringify(body) });

/** Evaluates in a tight loop (each call is local) until `done`; the milliseconds since `since`. */
async function reached(since: number, done: () => Promise<boolean>): Promise<number> {
  await waitFor('the change to reach the in-process provider', async () => (await done()) || undefined, 2000);
  return performance.now() - since;
}

before(async () => {
  syncPort = await freePort();
  h = await startRewind({
    config: (port) =>
      `${oneShopConfig(port)}server:\n  flagSync: { listen: 127.0.0.1:${syncPort}, auth: none }\n`,
  });
  const set = await api('/flags', 'PUT', { document: flagSet, reason: 'launch' });
  assert.equal(set.status, 200);
  await OpenFeature.setProviderAndWait(
    DOMAIN,
    new FlagdProvider({
      resolverType: 'in-process',
      host: '127.0.0.1',
      port: syncPort,
      selector: 'shop',
      // The box is loaded: give the first connection time.
      deadlineMs: 10_000,
    }),
  );
  client = OpenFeature.getClient(DOMAIN);
});
after(async () => {
  await OpenFeature.close();
  await h?.close();
});

test('the server says where the flagd sync listener is', async () => {
  const line = new RegExp(`flagd +127\\.0\\.0\\.1:${syncPort} \\(flagd\\.sync\\.v1.*auth: none\\)`);
  await waitFor('the start banner', async () => line.test(h.output()));
});

test("the provider evaluates the app's flags in process, with flagd's engine", async () => {
  const recs = await client.getBooleanDetails('recommendations', false, { targetingKey: 'u1' });
  assert.deepEqual([recs.value, recs.variant, recs.reason], [true, 'on', 'STATIC']);
  const ops = await client.getStringDetails('theme', 'none', { targetingKey: 'u1', email: 'a@ops.io' });
  assert.deepEqual([ops.value, ops.variant, ops.reason], ['dark', 'dark', 'TARGETING_MATCH']);
  const other = await client.getStringDetails('theme', 'none', { targetingKey: 'u2', email: 'b@shop.io' });
  assert.deepEqual([other.value, other.reason], ['light', 'DEFAULT']);
  const missing = await client.getBooleanDetails('nope', false, { targetingKey: 'u1' });
  assert.equal(missing.errorCode, 'FLAG_NOT_FOUND');
});

test('a change through the API reaches the in-process provider within 2 s', async () => {
  const since = performance.now();
  const r = await api('/flags/theme', 'PUT', {
    definition: { state: 'ENABLED', variants: { light: 'light', dark: 'dark' }, defaultVariant: 'dark' },
  });
  assert.equal(r.status, 200);
  const ms = await reached(
    since,
    async () => (await client.getStringValue('theme', 'none', { targetingKey: 'u2' })) === 'dark',
  );
  process.stdout.write(`# change -> in-process provider: ${ms.toFixed(1)} ms from the API call\n`);
});

test('a kill switch reaches the in-process provider within 2 s: the code default, reason DISABLED', async () => {
  const since = performance.now();
  const r = await api('/flags/recommendations/disable', 'POST', { reason: 'recs slow' });
  assert.equal(r.status, 200);
  const ms = await reached(
    since,
    async () =>
      (await client.getBooleanDetails('recommendations', false, { targetingKey: 'u1' })).reason ===
      'DISABLED',
  );
  const now = await client.getBooleanDetails('recommendations', false, { targetingKey: 'u1' });
  assert.equal(now.value, false, "the app's code default");
  process.stdout.write(`# kill switch -> in-process provider: ${ms.toFixed(1)} ms from the API call\n`);
});

test("an instance gets the flagd provider's own settings: new FlagdProvider() needs no options", async () => {
  const status = (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop`)).json()) as {
    instances: { pid: number | null; phase: string }[];
  };
  const pid = status.instances.find((i) => i.phase === 'Running' && i.pid !== null)?.pid;
  assert.ok(pid, 'a running instance');
  const env = Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  assert.deepEqual(
    [env.FLAGD_RESOLVER, env.FLAGD_HOST, env.FLAGD_PORT, env.FLAGD_SOURCE_SELECTOR],
    ['in-process', '127.0.0.1', String(syncPort), 'shop'],
  );
  // A process with the instance's environment and a provider built with no options at all.
  const script = `
    import { FlagdProvider } from '@openfeature/flagd-provider';
    import { OpenFeature } from '@openfeature/server-sdk';
    await OpenFeature.setProviderAndWait(new FlagdProvider({ deadlineMs: 10000 }));
    const d = await OpenFeature.getClient().getStringDetails('theme', 'none', { targetingKey: 'u9' });
    console.log(JSON.stringify([d.value, d.reason]));
    await OpenFeature.close();`;
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { cwd: ROOT, env },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
    ),
  );
  assert.deepEqual(JSON.parse(out.trim().split('\n').at(-1)!), ['dark', 'STATIC']);
});
