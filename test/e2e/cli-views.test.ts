// Story: a new user's first afternoon. v2 fails to start, v3 goes out by hand (paused and resumed
// on the way), v4 is aborted, then v3 is rolled back. Whatever they read afterwards (history,
// config diff, logs, status) tells them which revision served and what became of the others.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  type Harness,
  oneShopConfig,
  pausingCanary,
  startRewind,
  waitFor,
} from '../support/rewind-harness.ts';

const canaryConfig = (appPort: number) =>
  oneShopConfig(appPort, `${pausingCanary}        drainTimeout: 2s\n`);

interface Status {
  stableRevision: number | null;
  activeRollout: { phase: string; toRevision: number; state: { index: number } } | null;
  instances: { id: string; phase: string }[];
}

describe('what the CLI shows after failed, aborted and rolled-back revisions', () => {
  let h: Harness;
  const status = async () => (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop`)).json()) as Status;
  const pausedAtStep = () =>
    waitFor(
      'the canary to wait at its pause step',
      async () => (await status()).activeRollout?.phase === 'Paused',
      40_000,
    );

  before(async () => {
    h = await startRewind({ config: canaryConfig });
    await waitFor('v1 to be stable', async () => (await status()).stableRevision === 1, 60_000);
  });
  after(async () => {
    await h?.close();
  });

  test('given v1, v2 fails, v3 is paused, resumed and promoted, v4 is aborted', async () => {
    const v2 = await h.cli('deploy', 'shop', '--version', 'v2', '--env', 'SHOP_HEALTH_FAIL=1', '--wait');
    assert.equal(v2.code, 3, v2.stdout + v2.stderr);

    // v3 holds its start until released: the pause and the resume land during waitHealthy.
    const hold = join(h.dir, 'hold-v3');
    writeFileSync(hold, '');
    const v3 = await h.cli('deploy', 'shop', '--version', 'v3', '--env', `SHOP_START_HOLD_FILE=${hold}`);
    assert.equal(v3.code, 0, v3.stderr);
    await waitFor('v3 to progress', async () => (await status()).activeRollout?.phase === 'Progressing');
    const paused = await h.cli('pause', 'shop');
    assert.equal(paused.stdout.trim(), 'deploy to revision 3: Paused');
    const resumed = await h.cli('resume', 'shop');
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(resumed.stdout.trim(), 'deploy to revision 3: Progressing', 'the phase after the resume');
    rmSync(hold);

    // At the strategy's own pause, resume is not what goes on; the CLI says what does.
    await pausedAtStep();
    const refused = await h.cli('resume', 'shop');
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /waits at a pause step of its strategy, not paused by hand: rewind promote shop goes on/,
    );
    assert.equal((await h.cli('pause', 'shop')).code, 0);
    const atStep = await h.cli('resume', 'shop');
    assert.equal(
      atStep.stdout.trim(),
      'deploy to revision 3: Paused at a pause step that waits for rewind promote shop',
    );
    assert.equal((await h.cli('promote', 'shop')).code, 0);
    await waitFor('v3 to be stable', async () => (await status()).stableRevision === 3, 40_000);

    assert.equal((await h.cli('deploy', 'shop', '--version', 'v4')).code, 0);
    await pausedAtStep();
    assert.equal((await h.cli('abort', 'shop', '--reason', 'not today')).code, 0);
    await waitFor('the abort to finish', async () => (await status()).activeRollout === null, 40_000);
  });

  test('config diff compares the stable revision with the one that served before it', async () => {
    const diff = await h.cli('config', 'diff', 'shop');
    assert.equal(diff.code, 0, diff.stderr);
    assert.match(diff.stdout, /^revision 1 -> 3 \(revision 1 served before revision 3; skipped 2 failed\)\n/);
    assert.doesNotMatch(diff.stdout, /SHOP_HEALTH_FAIL/, 'nothing of the failed revision 2');

    const back = await h.cli('rollback', 'shop');
    assert.equal(back.code, 0, back.stdout + back.stderr);
    const json = JSON.parse((await h.cli('config', 'diff', 'shop', '--json')).stdout);
    assert.deepEqual(
      { from: json.from, to: json.to, basis: json.basis, skipped: json.skipped },
      { from: 3, to: 5, basis: 'servedBefore', skipped: [{ revision: 4, outcome: 'aborted' }] },
    );
    const given = await h.cli('config', 'diff', 'shop', '--from', '4');
    assert.match(given.stdout, /^revision 4 -> 5\n/);
  });

  test('history says what became of each revision, in the table and in --json', async () => {
    const list = JSON.parse((await h.cli('history', 'shop', '--json')).stdout) as {
      number: number;
      outcome: string | null;
    }[];
    assert.deepEqual(
      list.map((r) => [r.number, r.outcome]),
      [
        [5, 'stable'],
        [4, 'aborted'],
        [3, 'rolled back'],
        [2, 'failed'],
        [1, 'superseded'],
      ],
    );
    const table = (await h.cli('history', 'shop')).stdout.split('\n');
    assert.match(table[0]!, /^REVISION +VERSION +OUTCOME +SOURCE/);
    assert.match(table[1]!, /^5 +v1 +stable +copy of 1 /);
    assert.match(table[4]!, /^2 +v2 +failed /);
  });

  test('logs show the revision that serves by default, and say so', async () => {
    // Revision 5 copies 1: its lines are those of revision 1's instance.
    const logs = await h.cli('logs', 'shop');
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stderr, /the lines of revision 5 \(v1, the stable one\)/);
    const instances = new Set(
      logs.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/)[1]),
    );
    assert.deepEqual([...instances], ['shop/1/0']);
    const aborted = await h.cli('logs', 'shop', '--revision', '4');
    assert.match(aborted.stdout, /shop\/4\/0 +shop v4 listening/);
    assert.doesNotMatch(aborted.stdout, /shop\/1\/0/);
    assert.equal(aborted.stderr, '', 'the revision asked for needs no note');
    const all = await h.cli('logs', 'shop', '--all');
    assert.match(all.stdout, /shop\/4\/0/);
    assert.match(all.stdout, /shop\/1\/0/);
  });

  test('status lists the instances that run, and the stopped ones of retired revisions with --all', async () => {
    await waitFor('revision 4 stopped', async () =>
      (await status()).instances.some((i) => i.id === 'shop/4/0' && i.phase === 'Stopped'),
    );
    const text = (await h.cli('status', 'shop')).stdout;
    assert.match(text, /shop\/1\/0 +Running/);
    assert.doesNotMatch(text, /shop\/2\/0|shop\/4\/0/);
    assert.match(text, /stopped instances? of retired revisions not shown: --all lists them/);
    const all = (await h.cli('status', 'shop', '--all')).stdout;
    assert.match(all, /shop\/2\/0 +Stopped/);
    assert.match(all, /shop\/4\/0 +Stopped/);
    const json = JSON.parse((await h.cli('status', 'shop', '--json')).stdout) as Status;
    assert.ok(
      json.instances.some((i) => i.id === 'shop/2/0'),
      '--json lists every instance, as before',
    );
    assert.match((await h.cli('help', 'status')).stdout, /--all +also list the stopped instances/);
  });
});
