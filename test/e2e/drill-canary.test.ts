// Story: the shop ships as a canary whose pause waits for a person. Its drill goes the whole way
// as the person on call would: it promotes the pause, lets the canary reach 100% and bake, then
// rolls back on purpose and verifies; the stable revision serves again.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { DrillReport } from '../../src/features/drills/drill-report.ts';
import { canaryShopConfig, type Harness, startRewind, waitFor } from '../support/rewind-harness.ts';

let h: Harness;

before(async () => {
  h = await startRewind({ config: canaryShopConfig });
  await waitFor('v1 serving', async () => (await fetch(h.appUrl).catch(() => null))?.ok);
});
after(() => h?.close());

test("a canary's drill promotes its pause, completes, rolls back and verifies", async () => {
  const run = await h.cli('drill', 'shop', '--version', 'v2');
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /deploying v2 as revision 2 \(canary\)/);
  assert.match(run.stdout, /promoted the canary's pause at 40% of traffic/);
  const id = /drill (drill-[^:\s]+): shop/.exec(run.stdout)![1]!;
  const { report } = JSON.parse((await h.cli('drills', 'show', id, '--json')).stdout) as {
    report: DrillReport;
  };
  assert.equal(report.strategy, 'canary');
  assert.equal(report.deploy!.phase, 'Completed');
  assert.equal(report.fullRollback!.backOnStable, true);
  assert.equal(report.database, null, 'no database declared');
  const lines = Object.fromEntries(
    (await h.cli('drills', 'show', id)).stdout
      .split('\n')
      .filter((l) => l.startsWith('| **'))
      .map((l) =>
        l
          .split(' | ')
          .slice(0, 2)
          .map((c) => c.replace(/[|* ]/g, '')),
      ),
  );
  assert.deepEqual(lines, {
    FullRollback: 'PASS',
    PartialRollback: 'n/a',
    DatabaseRollback: 'n/a',
    RollbackTime: 'PASS',
    RollbackVerification: 'PASS',
  });
  const status = JSON.parse((await h.cli('status', 'shop', '--json')).stdout);
  assert.equal(status.stableVersion, 'v1');
  assert.equal(status.activeRollout, null);
});
