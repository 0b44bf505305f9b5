// `rewind server` refuses to start where it could not be trusted: on a network address without
// TLS, and with a secrets key that cannot open the secrets it holds. With server.tls it speaks
// HTTPS only.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  freePort,
  type Harness,
  ROOT,
  runCli,
  shopConfig,
  startRewind,
  waitFor,
} from '../support/rewind-harness.ts';
import { selfSignedCert } from '../support/self-signed.ts';

const BIN = join(ROOT, 'bin/rewind.js');

function server(
  args: string[],
  env: Record<string, string> = {},
): { done: Promise<{ code: number; out: string }>; stop(): void } {
  const child = spawn(process.execPath, [BIN, 'server', ...args], {
    cwd: ROOT,
    env: { ...process.env, REWIND_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return {
    done: new Promise((res) =>
      child.on('close', (code) => {
        clearTimeout(timer);
        res({ code: code ?? -1, out });
      }),
    ),
    stop: () => child.kill('SIGTERM'),
  };
}

/** `rewind server` arguments of a harness: its config, data dir and port. */
const sameServer = (h: Harness) => [
  '--config',
  h.configFile,
  '--data-dir',
  h.dataDir,
  '--port',
  String(new URL(h.apiUrl).port),
];

const keyId = (key: string) =>
  createHash('sha256').update(Buffer.from(key, 'base64')).digest('hex').slice(0, 8);

describe('rewind server: network and TLS', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'rewind-trust-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a non-loopback address without TLS is refused unless --insecure', async () => {
    const config = join(dir, 'rewind.yaml');
    writeFileSync(config, shopConfig(await freePort()));
    const r = await server([
      '--config',
      config,
      '--data-dir',
      join(dir, 'd1'),
      '--host',
      '0.0.0.0',
      '--port',
      String(await freePort()),
    ]).done;
    assert.equal(r.code, 1);
    assert.match(r.out, /listen on 0\.0\.0\.0 without TLS.*server\.tls.*--insecure/);
  });

  test("flagd's sync listener on a non-loopback address without TLS is refused unless --insecure", async () => {
    const config = join(dir, 'rewind-sync.yaml');
    const syncPort = await freePort();
    writeFileSync(
      config,
      `${shopConfig(await freePort())}server:\n  flagSync: { listen: "0.0.0.0:${syncPort}" }\n`,
    );
    const r = await server([
      '--config',
      config,
      '--data-dir',
      join(dir, 'd-sync'),
      '--port',
      String(await freePort()),
    ]).done;
    assert.equal(r.code, 1);
    assert.match(
      r.out,
      new RegExp(
        `server\\.flagSync\\.listen 0\\.0\\.0\\.0:${syncPort} .* is not a loopback address and there is no server\\.tls.*--insecure`,
      ),
    );
  });

  test('with server.tls the API speaks HTTPS and takes the admin token', async () => {
    selfSignedCert(dir);
    const config = join(dir, 'tls.yaml');
    writeFileSync(
      config,
      `${shopConfig(await freePort())}server:\n  tls: { cert: cert.pem, key: key.pem }\n`,
    );
    const port = await freePort();
    const dataDir = join(dir, 'd2');
    const s = server(['--config', config, '--data-dir', dataDir, '--port', String(port)]);
    try {
      const get = (path: string, token?: string) =>
        new Promise<number>((res, rej) =>
          https
            .get(
              {
                host: '127.0.0.1',
                port,
                path,
                rejectUnauthorized: false,
                headers: token ? { authorization: `Bearer ${token}` } : {},
              },
              (r) => {
                r.resume();
                res(r.statusCode ?? 0);
              },
            )
            .on('error', rej),
        );
      await waitFor('https healthz', async () => (await get('/healthz')) === 200, 20_000);
      const token = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
      assert.equal(await get('/api/v1/apps', token), 200);
      assert.equal(await get('/api/v1/apps'), 401);
      // The CLI over HTTPS, trusting the certificate the way docs/security.md says.
      const apps = await runCli(['apps'], `https://127.0.0.1:${port}`, dataDir, {
        NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem'),
      });
      assert.equal(apps.code, 0, apps.stderr);
      assert.match(apps.stdout, /^APP\s+LISTEN/);
      const untrusted = await runCli(['apps'], `https://127.0.0.1:${port}`, dataDir);
      assert.equal(untrusted.code, 1);
      assert.match(
        untrusted.stderr,
        /cannot reach the Rewind server at https:\/\/127\.0\.0\.1:\d+ \(DEPTH_ZERO_SELF_SIGNED_CERT; URL from \$REWIND_URL\)/,
      );
      // The OFREP worker's own port (the API port + 1 by default) speaks HTTPS too.
      const ofrep = await new Promise<number>((res, rej) =>
        https
          .request(
            {
              host: '127.0.0.1',
              port: port + 1,
              path: '/api/v1/apps/shop/ofrep/v1/evaluate/flags',
              method: 'POST',
              rejectUnauthorized: false,
              headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            },
            (r) => {
              r.resume();
              res(r.statusCode ?? 0);
            },
          )
          .on('error', rej)
          .end('{}'),
      );
      assert.equal(ofrep, 200);
    } finally {
      s.stop();
      await s.done;
    }
  });
});

describe('rewind server: the secrets key', () => {
  test('a server started with another key, or none, refuses to start and names the key id it needs', async () => {
    const key = randomBytes(32).toString('base64');
    const h = await startRewind({ env: { REWIND_SECRETS_KEY: key } });
    try {
      await waitFor('v1', async () => (await fetch(h.appUrl).catch(() => null))?.ok);
      assert.equal((await h.cli('secrets', 'set', 'shop', 'SHOP_API_TOKEN=s3cret', '--wait')).code, 0);
      await h.kill('SIGTERM');
      const args = sameServer(h);
      const other = randomBytes(32).toString('base64');
      const wrong = await server(args, { REWIND_SECRETS_KEY: other }).done;
      assert.equal(wrong.code, 1);
      assert.match(
        wrong.out,
        new RegExp(
          `sealed with the key whose id is ${keyId(key)}, but this server's REWIND_SECRETS_KEY has key id ${keyId(other)}`,
        ),
      );
      assert.ok(!wrong.out.includes(key) && !wrong.out.includes(other), 'no key in the message');
      const none = await server(args).done;
      assert.equal(none.code, 1);
      assert.match(
        none.out,
        /REWIND_SECRETS_KEY is not set; start the server with the REWIND_SECRETS_KEY whose id is/,
      );
      await h.restart();
      assert.equal((await h.cli('status', 'shop')).code, 0, 'the right key starts');
    } finally {
      await h.close();
    }
  });

  test('secrets rotate-key re-seals every revision under a new key while the apps serve on', async () => {
    const key = randomBytes(32).toString('base64');
    const next = randomBytes(32).toString('base64');
    const h = await startRewind({ env: { REWIND_SECRETS_KEY: key } });
    const home = async () => (await (await fetch(h.appUrl)).json()) as { token: string | null };
    try {
      await waitFor('v1', async () => (await fetch(h.appUrl).catch(() => null))?.ok);
      assert.equal((await h.cli('secrets', 'set', 'shop', 'SHOP_API_TOKEN=s3cret', '--wait')).code, 0);
      const served = (await home()).token;
      assert.ok(served);
      const rotated = await runCli(['secrets', 'rotate-key', '--json'], h.apiUrl, h.dataDir, {
        REWIND_NEW_SECRETS_KEY: next,
      });
      assert.equal(rotated.code, 0, rotated.stderr);
      assert.ok(!rotated.stdout.includes(next), 'the key is not echoed');
      const r = JSON.parse(rotated.stdout) as { keyId: string; previousKeyId: string; revisions: number };
      assert.deepEqual([r.keyId, r.previousKeyId], [keyId(next), keyId(key)]);
      assert.ok(r.revisions >= 1);
      assert.equal((await home()).token, served, 'the running instances serve on');
      // A new revision starts instances: their secrets open with the new key.
      assert.equal((await h.cli('config', 'set', 'shop', 'SHOP_GREETING=rotated', '--wait')).code, 0);
      assert.equal((await home()).token, served);
      const audit = await h.cli('audit', '--json');
      assert.ok(!audit.stdout.includes(next), 'the key is not in the audit trail');
      await h.kill('SIGTERM');
      const args = sameServer(h);
      const old = await server(args, { REWIND_SECRETS_KEY: key }).done;
      assert.equal(old.code, 1);
      assert.match(old.out, new RegExp(`sealed with the key whose id is ${keyId(next)}`));
      const s = server(args, { REWIND_SECRETS_KEY: next });
      try {
        await waitFor(
          'the server with the new key',
          async () => (await fetch(`${h.apiUrl}/healthz`)).ok,
          20_000,
        );
        await waitFor('the secret with the new key', async () => (await home()).token === served, 20_000);
      } finally {
        s.stop();
        await s.done;
      }
    } finally {
      await h.close();
    }
  });
});
