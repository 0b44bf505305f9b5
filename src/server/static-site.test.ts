// The dashboard's files through the real routes (inject): pages get index.html with the security
// headers, hashed assets are cached for good and sent gzipped to who asks, nothing outside the
// build is reachable, and an unbuilt dashboard says how to build it.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { type InProcessApi, inProcessApi } from '../../test/support/in-process-api.ts';

const INDEX =
  '<!doctype html><title>Rewind</title><div id="root"></div><script type="module" src="/assets/app-3f9a.js"></script>';
const SCRIPT = `console.log(${JSON.stringify('x'.repeat(4000))});`;

describe('the dashboard files', () => {
  let dir: string;
  let h: InProcessApi;
  const get = (url: string, headers: Record<string, string> = {}) =>
    h.api.inject({ method: 'GET', url, headers: { host: '127.0.0.1:1', ...headers } });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rewind-web-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), INDEX);
    writeFileSync(join(dir, 'assets/app-3f9a.js'), SCRIPT);
    writeFileSync(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    h = await inProcessApi({ port: 1, role: 'viewer', webRoot: dir });
  });
  after(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('/ and every page path get index.html, revalidated, with the security headers', async () => {
    for (const url of ['/', '/apps/shop', '/apps/shop/rollouts/r-1?x=1', '/incidents']) {
      const r = await get(url);
      assert.equal(r.statusCode, 200, url);
      assert.equal(r.body, INDEX, url);
      assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(r.headers['cache-control'], 'no-cache');
      assert.match(
        String(r.headers['content-security-policy']),
        /default-src 'self'; script-src 'self';.*frame-ancestors 'none'/,
      );
      assert.equal(r.headers['x-frame-options'], 'DENY');
      assert.equal(r.headers['referrer-policy'], 'no-referrer');
    }
  });

  test('hashed assets are immutable, gzipped when asked, and answer 304 to their ETag', async () => {
    const plain = await get('/assets/app-3f9a.js');
    assert.equal(plain.statusCode, 200);
    assert.equal(plain.body, SCRIPT);
    assert.equal(plain.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(plain.headers['content-encoding'], undefined);
    const zipped = await get('/assets/app-3f9a.js', { 'accept-encoding': 'gzip, br' });
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    assert.ok(zipped.rawPayload.length < SCRIPT.length / 10);
    assert.equal(gunzipSync(zipped.rawPayload).toString(), SCRIPT);
    const again = await get('/assets/app-3f9a.js', { 'if-none-match': String(plain.headers.etag) });
    assert.equal(again.statusCode, 304);
    const icon = await get('/favicon.svg');
    assert.equal(icon.headers['content-type'], 'image/svg+xml');
    assert.equal(icon.headers['cache-control'], 'no-cache');
  });

  test('a missing file is a 404, a path out of the build too, and unknown API paths stay JSON 404s', async () => {
    assert.equal((await get('/assets/nope.js')).statusCode, 404);
    assert.equal((await get('/assets/../../package.json')).statusCode, 404);
    assert.equal((await get('/%2e%2e/package.json')).statusCode, 404);
    const api = await get('/api/v1/nothing-here');
    assert.equal(api.statusCode, 404);
    assert.equal(api.json().error.code, 'ROUTE_NOT_FOUND');
  });

  test('without a build, pages say how to build it (503)', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'rewind-web-none-'));
    const bare = await inProcessApi({ port: 1, role: 'viewer', webRoot: empty });
    try {
      const r = await bare.api.inject({ method: 'GET', url: '/', headers: { host: '127.0.0.1:1' } });
      assert.equal(r.statusCode, 503);
      assert.match(r.body, /run npm run build:web/);
    } finally {
      await bare.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
