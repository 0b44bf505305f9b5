// Hooks around promotion and rollback: a failing pre-promotion webhook aborts the rollout; the
// post-promotion webhook and the post-rollback command are told what happened.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Harness, ROOT, startRewind, waitFor } from '../support/rewind-harness.ts';

describe('hooks', () => {
  let h: Harness;
  let hooks: Server;
  const received: { path: string; body: { phase: string; version: string } }[] = [];
  let failPre = false;

  before(async () => {
    hooks = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        received.push({ path: req.url ?? '', body: JSON.parse(body) });
        res
          .writeHead(req.url === '/pre' && failPre ? 500 : 200)
          .end(req.url === '/pre' && failPre ? 'smoke tests red' : 'ok');
      });
    });
    await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
    const port = (hooks.address() as AddressInfo).port;
    h = await startRewind({
      config: (appPort) => `apps:
  - name: shop
    listen: 127.0.0.1:${appPort}
    run:
      command: node ${join(ROOT, 'examples/shop/server.js')}
      env: { SHOP_VERSION: "\${version}" }
    health: { path: /healthz, interval: 100ms }
    strategy: { blueGreen: { bake: 200ms } }
    hooks:
      prePromotion:
        - webhook: { url: "http://127.0.0.1:${port}/pre" }
      postPromotion:
        - name: tell the team
          webhook: { url: "http://127.0.0.1:${port}/post" }
      postRollback:
        - command: echo "$REWIND_HOOK $REWIND_VERSION" >> post-rollback.log
`,
    });
    await waitFor('v1', async () => (await fetch(h.appUrl)).headers.get('x-shop-version') === 'v1');
  });
  after(async () => {
    await h?.close();
    hooks?.close();
  });

  test('the pre-promotion webhook is asked first, and the post-promotion one told after', async () => {
    const r = await h.cli('deploy', 'shop', '--version', 'v2', '--wait');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await waitFor('the post-promotion webhook', async () =>
      received.some((x) => x.path === '/post' && x.body.version === 'v2'),
    );
    assert.deepEqual(
      received.filter((x) => x.body.version === 'v2').map((x) => `${x.path} ${x.body.phase}`),
      ['/pre prePromotion', '/post postPromotion'],
    );
  });

  test('a failing pre-promotion webhook aborts the rollout before any traffic moves', async () => {
    failPre = true;
    const r = await h.cli('deploy', 'shop', '--version', 'v3', '--wait');
    failPre = false;
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /pre-promotion hook POST http:\/\/127\.0\.0\.1:\d+\/pre failed: .* answered 500: smoke tests red/,
    );
    assert.equal((await fetch(h.appUrl)).headers.get('x-shop-version'), 'v2');
  });

  test('the post-rollback command runs after a rollback', async () => {
    const r = await h.cli('rollback', 'shop');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const log = await waitFor('the post-rollback hook', async () => {
      try {
        return readFileSync(join(h.dir, 'post-rollback.log'), 'utf8');
      } catch {
        return undefined;
      }
    });
    assert.equal(log.trim(), 'postRollback v1');
  });
});
