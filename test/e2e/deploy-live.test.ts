// `deploy --wait` on a terminal keeps a live line under the step lines (traffic, rates per
// revision, the analysis); piped, the same command writes the step lines alone, no control codes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Harness, oneShopConfig, startLoad, startRewind, waitFor } from '../support/rewind-harness.ts';

const ESC = '\x1b';
const BIN = join(import.meta.dirname, '../../bin/rewind.js');

const config = (appPort: number) =>
  oneShopConfig(
    appPort,
    `    strategy:
      canary:
        steps: [ { setWeight: 30 }, { pause: 4s }, { setWeight: 100 } ]
        bake: 200ms
        keepPreviousWarm: 1m
`,
  );

/** Runs the CLI on a pseudo-terminal (util-linux `script`), as a person at a terminal would. */
function onTerminal(h: Harness, args: string[]): Promise<{ code: number; output: string }> {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');
  return new Promise((res) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      env: { ...process.env, REWIND_URL: h.apiUrl, REWIND_DATA_DIR: h.dataDir, COLUMNS: '200' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => res({ code: code ?? -1, output }));
  });
}

describe('deploy --wait: the live line', () => {
  let h: Harness;
  before(async () => {
    h = await startRewind({ config });
    await waitFor('v1', async () => (await fetch(h.appUrl)).headers.get('x-shop-version') === 'v1');
  });
  after(async () => {
    await h?.close();
  });

  test("on a terminal, a line with the traffic and each revision's rates is redrawn under the steps", async () => {
    const load = startLoad(`${h.appUrl}/products`, 4);
    const r = await onTerminal(h, ['deploy', 'shop', '--version', 'v2', '--wait']);
    await load.stop();
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /30% of traffic on revision 2/);
    // Each draw: back to the line's start, clear it (ESC [ K), the line.
    assert.match(
      r.output,
      new RegExp(`\r${ESC}\\[Krev 1 70%: [\\d.]+ req/s, [\\d.]+% failed · rev 2 30%: [\\d.]+ req/s`),
    );
    assert.match(r.output, /Completed: revision 2 serves/);
  });

  test('piped, the same command writes the step lines alone, with no control codes', async () => {
    const load = startLoad(`${h.appUrl}/products`, 4);
    const r = await h.cli('deploy', 'shop', '--version', 'v3', '--wait');
    await load.stop();
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /30% of traffic on revision 3/);
    assert.ok(!r.stdout.includes(ESC), 'no escape character in piped output');
    assert.doesNotMatch(r.stdout, /req\/s/);
  });
});
