// What a command loads to start: `--help`, `--version` and `status` are commander and the CLI's
// own client code. The server, the store, the database drivers, zod and the flag engine load
// only in the commands that need them, so the everyday commands start in a blink.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Harness, ROOT, runCli, startRewind } from '../support/rewind-harness.ts';

const RECORDER = join(ROOT, 'test/support/record-modules.ts');
const NOWHERE = 'http://127.0.0.1:9';
/** The launcher, the CLI, the helpers below every layer, the error rate's definition, and commander. */
const LIGHT = [
  '/bin/rewind.js',
  '/scripts/ensure-node.js',
  '/src/cli/',
  '/src/shared/',
  // THE error rate's definition, which the live line of deploy --wait uses: pure, no imports.
  '/src/spec/error-rate.ts',
  '/node_modules/commander/',
];

let h: Harness;
const scratch = mkdtempSync(join(tmpdir(), 'rewind-cli-startup-'));
before(async () => {
  h = await startRewind();
});
after(async () => {
  await h?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** The modules outside LIGHT that `rewind ARGS` loaded. */
async function heavyModules(args: string[], apiUrl: string, dataDir?: string): Promise<string[]> {
  const file = join(scratch, `${args.join('-')}.modules`);
  const r = await runCli(args, apiUrl, dataDir, {
    NODE_OPTIONS: `--import=${RECORDER}`,
    REWIND_RECORD_MODULES: file,
  });
  assert.equal(r.code, 0, `rewind ${args.join(' ')}: ${r.stderr}`);
  const loaded = readFileSync(file, 'utf8').split('\n');
  assert.ok(
    loaded.some((url) => url.endsWith('/src/cli/main.ts')),
    'the recorder saw the CLI load',
  );
  return loaded.filter((url) => !url.startsWith('node:') && !LIGHT.some((part) => url.includes(part)));
}

test('--help and --version load the CLI and commander alone', async () => {
  assert.deepEqual(await heavyModules(['--help'], NOWHERE), []);
  assert.deepEqual(await heavyModules(['--version'], NOWHERE), []);
  assert.deepEqual(await heavyModules(['db', '--help'], NOWHERE), []);
});

test('status against a running server loads the CLI and commander alone', async () => {
  assert.deepEqual(await heavyModules(['status', 'shop'], h.apiUrl, h.dataDir), []);
  const r = await h.cli('status', 'shop');
  assert.match(r.stdout, /^app shop on /);
});
