// The CLI's own parsing, without a server: what a mistyped command does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../support/rewind-harness.ts';

// Nothing listens there: a command that reached the network would fail differently.
const NOWHERE = 'http://127.0.0.1:9';

test('an unknown command fails with a suggestion, whatever options follow it', async () => {
  for (const args of [['deplyo', 'shop', '--version', 'v2'], ['deplyo'], ['rolback', 'shop', '--help']]) {
    const r = await runCli(args, NOWHERE);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, new RegExp(`unknown command '${args[0]}'`));
    assert.doesNotMatch(r.stdout, /^0\.1\.0/);
  }
  const suggestion = await runCli(['deplyo', 'shop', '--version', 'v2'], NOWHERE);
  assert.match(suggestion.stderr, /Did you mean deploy\?/);
});

test('--version and help still answer', async () => {
  const version = await runCli(['--version'], NOWHERE);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  const help = await runCli(['help', 'deploy'], NOWHERE);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /Usage: rewind deploy/);
});
