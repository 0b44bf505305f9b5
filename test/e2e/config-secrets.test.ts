// Story: config and secrets travel with revisions. Setting one rolls out a new revision; a
// rollback restores the old values; a secret reaches the app but never the API, the CLI or logs.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Harness, startRewind, waitFor } from '../support/rewind-harness.ts';

const SECRET = `tok-${randomBytes(8).toString('hex')}`;
const fingerprint = createHash('sha256').update(SECRET).digest('hex').slice(0, 12);
let h: Harness;

const home = async () =>
  (await fetch(`${h.appUrl}/`)).json() as Promise<{ hello: string; token: string | null }>;

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

before(async () => {
  h = await startRewind({ env: { REWIND_SECRETS_KEY: randomBytes(32).toString('base64') } });
  await waitFor('v1 serving', async () => (await fetch(h.appUrl).catch(() => null))?.ok);
});
after(() => h?.close());

test('config set makes a revision that is rolled out, and diff shows it', async () => {
  const set = await h.cli(
    'config',
    'set',
    'shop',
    'SHOP_GREETING=hello-config',
    '--wait',
    '--reason',
    'friendlier',
  );
  assert.equal(set.code, 0, set.stdout + set.stderr);
  assert.equal((await home()).hello, 'hello-config');
  const get = JSON.parse((await h.cli('config', 'get', 'shop', '--json')).stdout);
  assert.deepEqual(get.config, { SHOP_GREETING: 'hello-config' });
  const diff = JSON.parse((await h.cli('config', 'diff', 'shop', '--json')).stdout);
  assert.deepEqual(diff.changes, [
    { kind: 'config', key: 'SHOP_GREETING', change: 'added', from: null, to: 'hello-config' },
  ]);
});

test('a secret reaches the app and nothing else', async () => {
  const set = await h.cli('secrets', 'set', 'shop', `SHOP_API_TOKEN=${SECRET}`, '--wait', '--json');
  assert.equal(set.code, 0, set.stdout + set.stderr);
  assert.ok(!set.stdout.includes(SECRET));
  assert.equal((await home()).token, fingerprint);
  assert.equal((await home()).hello, 'hello-config', 'config carried over');
  const list = await h.cli('secrets', 'list', 'shop');
  assert.equal(list.stdout.trim(), 'SHOP_API_TOKEN');
  const diff = await h.cli('config', 'diff', 'shop', '--json');
  assert.deepEqual(JSON.parse(diff.stdout).changes, [
    { kind: 'secret', key: 'SHOP_API_TOKEN', change: 'added' },
  ]);
  for (const path of [
    '/api/v1/apps/shop/revisions',
    '/api/v1/apps/shop/config',
    '/api/v1/apps/shop',
    '/api/v1/apps/shop/events',
  ]) {
    const body = await (await h.fetch(`${h.apiUrl}${path}`)).text();
    assert.ok(!body.includes(SECRET), `${path} shows the secret`);
  }
  for (const file of filesUnder(h.dir)) {
    if (file.endsWith('.sock')) continue;
    assert.ok(!readFileSync(file).includes(SECRET), `${file} holds the secret in plain text`);
  }
  assert.ok(!h.output().includes(SECRET));
});

test('a rollback restores the previous config and secrets', async () => {
  const back = await h.cli('rollback', 'shop', '--json');
  assert.equal(back.code, 0, back.stdout + back.stderr);
  const now = await home();
  assert.equal(now.token, null);
  assert.equal(now.hello, 'hello-config');
  const unset = await h.cli('config', 'set', 'shop', '--unset', 'SHOP_GREETING', '--wait');
  assert.equal(unset.code, 0, unset.stdout + unset.stderr);
  assert.equal((await home()).hello, 'shop');
});

test('bad keys and unknown keys are clear errors that change nothing', async () => {
  const before = JSON.parse((await h.cli('history', 'shop', '--json')).stdout).length;
  const bad = await h.cli('config', 'set', 'shop', '1BAD=x');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /config key "1BAD" is not a valid environment variable name/);
  const unknown = await h.cli('secrets', 'set', 'shop', '--unset', 'NOPE');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /secrets key "NOPE" is not set on app shop/);
  const empty = await h.cli('config', 'set', 'shop');
  assert.match(empty.stderr, /nothing to change/);
  assert.equal(JSON.parse((await h.cli('history', 'shop', '--json')).stdout).length, before);
});
