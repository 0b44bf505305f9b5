// A canary release driven by hand: weights step up, a pause waits for promote, abort puts the
// stable revision back.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Harness, oneShopConfig, startLoad, startRewind, waitFor } from '../support/rewind-harness.ts';

const canaryConfig = (appPort: number) =>
  oneShopConfig(
    appPort,
    `    strategy:
      canary:
        steps:
          - setWeight: 20
          - pause: 10s
          - setWeight: 50
          - pause: {}
          - setWeight: 100
        bake: 200ms
        keepPreviousWarm: 1m
        drainTimeout: 2s
`,
  );

interface Status {
  stableVersion: string;
  activeRollout: { id: string; phase: string; state: { weight: number } } | null;
  traffic: { revision: number; weight: number }[];
}

describe('canary with examples/shop', () => {
  let h: Harness;
  const status = async () => (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop`)).json()) as Status;

  before(async () => {
    h = await startRewind({ config: canaryConfig });
    await waitFor('v1 to serve', async () => (await status()).stableVersion === 'v1');
  });
  after(async () => {
    await h?.close();
  });

  test('given v1, when v2 is deployed as a canary, then it stops at 50% until promoted, with zero failed requests', async () => {
    const load = startLoad(`${h.appUrl}/products`, 4);
    const r = await h.cli('deploy', 'shop', '--version', 'v2', '--json');
    assert.equal(r.code, 0, r.stderr);
    // The 10 s step pause is long enough for a busy box to send a pause in the next test.
    const paused = await waitFor(
      'the canary to pause at 50%',
      async () => {
        const s = await status();
        return s.activeRollout?.phase === 'Paused' && s.activeRollout.state.weight === 50 && s;
      },
      40_000,
    );
    assert.deepEqual(
      paused.traffic.map((t) => t.weight).sort((a, b) => a - b),
      [50, 50],
    );
    const mid = { ...Object.fromEntries(load.stats.versions) };
    const promoted = await h.cli('promote', 'shop');
    assert.equal(promoted.code, 0, promoted.stderr);
    await waitFor('v2 to be stable', async () => (await status()).stableVersion === 'v2');
    const stats = await load.stop();
    assert.equal(stats.failed, 0, stats.errors.join('\n'));
    assert.ok(
      (mid.v1 ?? 0) > 0 && (mid.v2 ?? 0) > 0,
      `both versions served during the canary: ${JSON.stringify(mid)}`,
    );
    const events = (await (
      await h.fetch(`${h.apiUrl}/api/v1/rollouts/${paused.activeRollout!.id}/events`)
    ).json()) as { type: string; message: string }[];
    const weights = events.filter((e) => e.type === 'traffic.weight').map((e) => e.message);
    assert.deepEqual(weights, [
      '20% of traffic on revision 2',
      '50% of traffic on revision 2',
      '100% of traffic on revision 2',
    ]);
  });

  test('when a paused canary is aborted, then the stable revision takes all traffic back', async () => {
    assert.equal((await h.cli('deploy', 'shop', '--version', 'v3')).code, 0);
    await waitFor(
      'the canary to pause',
      async () => (await status()).activeRollout?.phase === 'Paused',
      40_000,
    );
    const r = await h.cli('abort', 'shop', '--reason', 'looks wrong', '--json');
    assert.equal(r.code, 0, r.stderr);
    const final = await waitFor('the abort to finish', async () => {
      const s = await status();
      return s.activeRollout === null && s;
    });
    assert.equal(final.stableVersion, 'v2');
    assert.equal((await fetch(h.appUrl)).headers.get('x-shop-version'), 'v2');
  });

  test('pause holds a canary where it is; resume goes on; promote --full skips to 100%', async () => {
    assert.equal((await h.cli('deploy', 'shop', '--version', 'v4')).code, 0);
    await waitFor('the canary at 20%', async () => ((await status()).activeRollout?.state.weight ?? 0) >= 20);
    const paused = await h.cli('pause', 'shop', '--reason', 'lunch');
    assert.equal(paused.code, 0, paused.stderr);
    assert.match(paused.stdout, /Paused/);
    await new Promise((r) => setTimeout(r, 800));
    assert.equal((await status()).activeRollout?.state.weight, 20, 'a paused canary does not step on');
    assert.equal((await h.cli('resume', 'shop')).code, 0);
    await waitFor(
      'the canary at 50%',
      async () => (await status()).activeRollout?.state.weight === 50,
      40_000,
    );
    const full = await h.cli('promote', 'shop', '--full');
    assert.equal(full.code, 0, full.stderr);
    await waitFor('v4 to be stable', async () => (await status()).stableVersion === 'v4');
  });

  test('promote, abort, pause and resume with nothing rolling out are refused', async () => {
    for (const verb of ['promote', 'abort', 'pause', 'resume']) {
      const r = await h.cli(verb, 'shop');
      assert.equal(r.code, 1, `${verb}: ${r.stdout}`);
      assert.match(r.stderr, new RegExp(`app shop has nothing rolling out to ${verb}`));
    }
  });
});
