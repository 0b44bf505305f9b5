// Story: a new user starts `rewind server`, opens what its banner points at, and points the CLI at
// the server the way people write addresses (with or without http://).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Harness, runCli, startRewind, waitFor } from '../support/rewind-harness.ts';

let h: Harness;
before(async () => {
  h = await startRewind();
});
after(() => h?.close());

test('every URL the start banner prints answers 200 (the app once it is up)', async () => {
  const banner = await waitFor('the banner', async () => {
    const out = h.output();
    return out.includes('Try:') && out.slice(out.indexOf('Rewind '));
  });
  // The pages it points at: URLs with a path. Bare addresses (the app's listener, the value for
  // REWIND_URL) and the OFREP base URL with its <app> placeholder are for configuration.
  const urls = [...banner.matchAll(/https?:\/\/[^\s)<]+/g)]
    .map((m) => m[0])
    .filter((u) => /^https?:\/\/[^/]+\/.*[^/]$/.test(u));
  assert.ok(urls.includes(`${h.apiUrl}/healthz`), banner);
  assert.ok(urls.includes(`${h.apiUrl}/api/v1/openapi.json`), banner);
  assert.ok(urls.includes(`${h.appUrl}/healthz`), banner);
  for (const url of urls) {
    const status = await waitFor(`${url} answering`, async () => {
      const r = await h.fetch(url).catch(() => null);
      await r?.body?.cancel();
      return r?.status === 200 && r.status;
    });
    assert.equal(status, 200, url);
  }
  const health = await fetch(`${h.apiUrl}/healthz`);
  assert.equal(health.status, 200, 'the health URL needs no token');
  await health.body?.cancel();
});

test('REWIND_URL without a scheme means http://; --url wins over $REWIND_URL', async () => {
  const bare = h.apiUrl.replace('http://', '');
  const plain = await runCli(['apps', '--json'], bare, h.dataDir);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(JSON.parse(plain.stdout)[0].name, 'shop');
  const flag = await runCli(['--url', bare, 'apps', '--json'], 'ftp://nowhere', h.dataDir);
  assert.equal(flag.code, 0, flag.stderr);
  assert.equal(JSON.parse(flag.stdout)[0].name, 'shop');
});

test('a URL that is not http(s) is refused naming where it came from and the fix', async () => {
  const env = await runCli(['apps'], 'ftp://127.0.0.1:7070', h.dataDir);
  assert.equal(env.code, 1);
  assert.match(
    env.stderr,
    /^error: \$REWIND_URL "ftp:\/\/127\.0\.0\.1:7070" is not the server's URL \(ftp:\/\/ is not a scheme the server speaks\); write http:\/\/HOST:PORT .*for example http:\/\/127\.0\.0\.1:7070\n$/,
  );
  const flag = await runCli(['--url', 'http:/127.0.0.1:7070', 'apps'], h.apiUrl, h.dataDir);
  assert.equal(flag.code, 1);
  assert.match(flag.stderr, /^error: --url "http:\/127\.0\.0\.1:7070" is not the server's URL; write http/);
});

test('`show latest` before anything happened says what would make one', async () => {
  const incident = await h.cli('incidents', 'show', 'latest');
  assert.equal(incident.code, 1);
  assert.match(incident.stderr, /^error: no incidents yet: every rollback and kill switch opens one\n$/);
  const drill = await h.cli('drills', 'show', 'latest');
  assert.equal(drill.code, 1);
  assert.match(drill.stderr, /^error: no drills yet: run one with rewind drill APP --version V\n$/);
});
