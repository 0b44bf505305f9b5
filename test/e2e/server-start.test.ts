// `rewind server` refuses bad starting conditions with a clear message and exit 1.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, ROOT, shopConfig } from '../support/rewind-harness.ts';

function runServer(
  dir: string,
  config: string,
  apiPort: number,
  extra: readonly string[] = [],
): Promise<{ code: number; out: string }> {
  const file = join(dir, `rewind-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, config);
  return new Promise((res) => {
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'bin/rewind.js'),
        'server',
        '--config',
        file,
        '--data-dir',
        join(dir, 'data'),
        '--port',
        String(apiPort),
        ...extra,
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), 15_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      res({ code: code ?? -1, out });
    });
  });
}

describe('rewind server start-up errors', () => {
  let dir: string;
  let holder: Server;
  let heldPort: number;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rewind-start-'));
    heldPort = await freePort();
    holder = createServer().listen(heldPort, '127.0.0.1');
  });
  after(() => {
    holder.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('invalid yaml, an unknown key, a bad duration, a missing file', async () => {
    const api = await freePort();
    const table: [string, RegExp][] = [
      [
        'apps:\n  - name: shop\n    listen 8080\n',
        /rewind-\w+\.yaml:3:5: YAML syntax: .*\n {5}3 \| {5}listen 8080\n {7}\| {5}\^\n/,
      ],
      [
        shopConfig(await freePort()).replace('instances: 2', 'instances: 2\n      colour: red'),
        /:8:7: apps\.0\.run: unknown key "colour"; remove it.*\n {5}8 \| {7}colour: red\n/,
      ],
      [
        shopConfig(await freePort()).replace('stopTimeout: 2s', 'stopTimeout: soon'),
        /"soon" is not a duration/,
      ],
    ];
    for (const [config, message] of table) {
      const r = await runServer(dir, config, api);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, message);
    }
    const missing = await new Promise<{ code: number; out: string }>((res) => {
      const child = spawn(
        process.execPath,
        [join(ROOT, 'bin/rewind.js'), 'server', '--config', join(dir, 'nope.yaml')],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stderr.on('data', (d) => (out += d));
      child.on('close', (code) => res({ code: code ?? -1, out }));
    });
    assert.equal(missing.code, 1);
    assert.match(missing.out, /cannot read the file \(ENOENT\); pass --config PATH/);
  });

  test("the app's port in use", async () => {
    const r = await runServer(dir, shopConfig(heldPort), await freePort());
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      new RegExp(
        `app shop: cannot listen on 127.0.0.1:${heldPort} \\(the port is in use\\); stop what holds it or change apps.0.listen`,
      ),
    );
  });

  test('the API port in use', async () => {
    // OFREP on a free port of its own: its default, the API port + 1, may be taken by anything.
    const r = await runServer(dir, shopConfig(await freePort()), heldPort, [
      '--ofrep-port',
      String(await freePort()),
    ]);
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      new RegExp(`the API port 127.0.0.1:${heldPort} is in use; stop what holds it or pass --port N`),
    );
  });

  test("OFREP's port in use, or the API's", async () => {
    const api = await freePort();
    const held = await runServer(dir, shopConfig(await freePort()), api, ['--ofrep-port', String(heldPort)]);
    assert.equal(held.code, 1, held.out);
    assert.match(
      held.out,
      new RegExp(`the OFREP port 127.0.0.1:${heldPort} is in use; stop what holds it or pass --ofrep-port N`),
    );
    const same = await runServer(dir, shopConfig(await freePort()), api, ['--ofrep-port', String(api)]);
    assert.equal(same.code, 1, same.out);
    assert.match(
      same.out,
      new RegExp(`--ofrep-port ${api} is the API port; OFREP's worker needs a port of its own`),
    );
  });
});
