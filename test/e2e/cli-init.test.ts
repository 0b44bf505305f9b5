// `rewind init` on a real app: the file it writes runs under `rewind server` as written; a command
// that does not listen on $PORT, or crashes, or a file already there, writes nothing.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { freePort, waitFor } from '../support/rewind-harness.ts';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/rewind.js');
const SHOP = join(ROOT, 'examples/shop/server.js');
const dir = mkdtempSync(join(tmpdir(), 'rewind-init-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const init = (...args: string[]) =>
  spawnSync(process.execPath, [BIN, 'init', ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });

test('given the shop, init finds /healthz and writes a file that rewind server runs as written', async () => {
  const appPort = await freePort();
  const r = init('--command', `node ${SHOP}`, '--name', 'shop', '--listen', `127.0.0.1:${appPort}`, '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { health: string; probes: { path: string; answer: string }[] };
  assert.equal(out.health, '/healthz');
  assert.deepEqual(out.probes, [{ path: '/healthz', answer: '200' }]);
  const text = readFileSync(join(dir, 'rewind.yaml'), 'utf8');
  assert.match(text, /# Found by `rewind init`: GET \/healthz answered 200\./);

  const server = spawn(
    process.execPath,
    [
      BIN,
      'server',
      '--config',
      join(dir, 'rewind.yaml'),
      '--data-dir',
      join(dir, 'data'),
      '--port',
      String(await freePort()),
      '--ofrep-port',
      String(await freePort()),
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  server.stdout.on('data', (d) => (log += d));
  server.stderr.on('data', (d) => (log += d));
  try {
    await waitFor(
      'the shop to serve through Rewind',
      async () => (await fetch(`http://127.0.0.1:${appPort}/healthz`).catch(() => null))?.status === 200,
      30_000,
    ).catch((err: Error) => assert.fail(`${err.message}\n${log}`));
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('close', r));
  }
});

test('a file already there is kept unless --force', () => {
  const file = join(dir, 'taken.yaml');
  writeFileSync(file, 'mine\n');
  const r = init('--command', `node ${SHOP}`, '--file', file);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /taken\.yaml exists; pass --force to replace it/);
  assert.equal(readFileSync(file, 'utf8'), 'mine\n');
});

test('a command that does not listen on $PORT is refused with the reason, and nothing is written', () => {
  const r = init('--command', 'sleep 30', '--file', 'silent.yaml', '--timeout', '1');
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    /did not listen on PORT=\d+ within 1 s; Rewind gives each instance its port in \$PORT/,
  );
  assert.ok(!existsSync(join(dir, 'silent.yaml')));
});

test('a command that exits is refused with its last lines, and nothing is written', () => {
  const r = init('--command', 'echo cannot find config.json; exit 3', '--file', 'crash.yaml');
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    /exited with code 3 before it listened; its last lines:\n {2}\| cannot find config\.json/,
  );
  assert.ok(!existsSync(join(dir, 'crash.yaml')));
});

test('no health path answering 2xx is refused, naming what each answered, and nothing is written', () => {
  const notFound = `${process.execPath} -e "require('node:http').createServer((q, s) => { s.statusCode = 404; s.end(); }).listen(process.env.PORT)"`;
  const r = init('--command', notFound, '--file', 'nohealth.yaml');
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stderr,
    /no health path answered 2xx \(\/healthz 404, \/health 404, \/readyz 404, \/ready 404, \/status 404, \/ 404\); pass --health PATH with one that does/,
  );
  assert.ok(!existsSync(join(dir, 'nohealth.yaml')));
});
