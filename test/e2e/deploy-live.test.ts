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
        steps: [ { setWeight: 30 }, { pause: {} }, { setWeight: 100 } ]
        bake: 200ms
        keepPreviousWarm: 1m
`,
  );

/** Starts the CLI on a pseudo-terminal (util-linux `script`), as a person at a terminal would. */
function onTerminal(h: Harness, args: string[]): { output: () => string; done: Promise<number> } {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    env: { ...process.env, REWIND_URL: h.apiUrl, REWIND_DATA_DIR: h.dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const done = new Promise<number>((res) => child.on('close', (code) => res(code ?? -1)));
  return { output: () => output, done };
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
    const run = onTerminal(h, ['deploy', 'shop', '--version', 'v2', '--wait']);
    // Each draw: back to the line's start, clear it (ESC [ K), the line. The canary waits at its
    // pause until promoted, so the line has all the time it needs to show both revisions.
    const drawn = new RegExp(
      `\r${ESC}\\[Krev 1 70%: [\\d.]+ req/s, [\\d.]+% failed · rev 2 30%: [\\d.]+ req/s`,
    );
    await waitFor('the live line with both revisions', async () => drawn.test(run.output()), 60_000);
    assert.equal((await h.cli('promote', 'shop')).code, 0);
    const code = await run.done;
    await load.stop();
    assert.equal(code, 0, run.output());
    assert.match(run.output(), /30% of traffic on revision 2/);
    assert.match(run.output(), /Completed: revision 2 serves/);
  });

  test('piped, the same command writes the step lines alone, with no control codes', async () => {
    const load = startLoad(`${h.appUrl}/products`, 4);
    const deploy = h.cli('deploy', 'shop', '--version', 'v3', '--wait');
    await waitFor('the canary to wait at its pause', async () => {
      const s = (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop`)).json()) as {
        activeRollout: { phase: string; toRevision: number } | null;
      };
      return s.activeRollout?.toRevision === 3 && s.activeRollout.phase === 'Paused';
    });
    assert.equal((await h.cli('promote', 'shop')).code, 0);
    const r = await deploy;
    await load.stop();
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /30% of traffic on revision 3/);
    assert.ok(!r.stdout.includes(ESC), 'no escape character in piped output');
    assert.doesNotMatch(r.stdout, /req\/s/);
  });
});
