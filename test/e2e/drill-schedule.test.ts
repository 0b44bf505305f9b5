// Story: the shop declares `drills: { every: 1m }`. Nobody runs a command; a minute after the shop
// came under Rewind the server rehearses its way back by itself (the stable version onto
// itself), and `rewind status` says when the way back was last proven.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Harness, shopConfig, startRewind, waitFor } from '../support/rewind-harness.ts';

let h: Harness;

before(async () => {
  h = await startRewind({
    config: (port) =>
      `${shopConfig(port, { bake: '300ms', checks: false })}    drills: { every: 1m, version: stable }\n`,
  });
  await waitFor('v1 serving', async () => (await fetch(h.appUrl).catch(() => null))?.ok);
});
after(() => h?.close());

test('a scheduled drill runs by itself once its period has passed, and status shows the way back proven', async () => {
  const startedAt = Date.now();
  assert.deepEqual(JSON.parse((await h.cli('drills', '--json')).stdout), [], 'not due at start');
  const drill = await waitFor(
    'the scheduled drill to pass',
    async () => {
      const list = JSON.parse((await h.cli('drills', '--app', 'shop', '--json')).stdout) as {
        id: string;
        status: string;
      }[];
      return list.find((d) => d.status !== 'Running');
    },
    150_000,
  );
  assert.equal(drill.status, 'Passed');
  const { report } = JSON.parse((await h.cli('drills', 'show', drill.id, '--json')).stdout);
  assert.equal(report.trigger, 'schedule');
  assert.equal(report.by, 'schedule');
  assert.equal(report.version, 'v1', 'stable: the version the shop serves, onto itself');
  assert.ok(report.startedAt - startedAt < 90_000);
  assert.ok(report.fullRollback.msToTrafficRestored > 0);
  const status = JSON.parse((await h.cli('status', 'shop', '--json')).stdout);
  assert.equal(status.lastProvenDrill.id, drill.id);
  assert.equal(status.stableVersion, 'v1');
  assert.deepEqual(JSON.parse((await h.cli('incidents', '--json')).stdout), []);
  // The audit trail says who started it: the schedule, for this drill.
  const audit = JSON.parse((await h.cli('audit', '--app', 'shop', '--json')).stdout) as {
    entries: { actor: string; method: string; route: string; reason: string }[];
  };
  const entry = audit.entries.find((e) => e.route === 'drills.every');
  assert.equal(entry?.actor, 'schedule');
  assert.equal(entry?.reason, `rollback drill ${drill.id} of v1`);
  assert.equal((await h.cli('audit', '--verify')).code, 0, 'the chain holds with it');
  // The next one is a period away: one drill so far.
  assert.equal(JSON.parse((await h.cli('drills', '--json')).stdout).length, 1);
});
