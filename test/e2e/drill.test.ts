// Story: before shipping v2 of the shop, the team rehearses its way back. `rewind drill` deploys
// v2 with the shop's strategy (its expand and contract migrations on SQLite, traffic, bake), rolls
// it back on purpose, verifies v1 as after a real rollback, and switches the kill-switch flag off
// and on. The report fills in the runbook's checklist from what it measured; no incident opens.
// A release whose down migration is broken fails its drill, and the shop stays on v1.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, test } from 'node:test';
import type { DrillReport } from '../../src/features/drills/drill-report.ts';
import { drillShopConfig, writeDrillReleases } from '../support/drill-fixtures.ts';
import { type Harness, startLoad, startRewind, waitFor } from '../support/rewind-harness.ts';

let h: Harness;

const columns = (table: string) => {
  const db = new DatabaseSync(join(h.dir, 'shop.db'), { readOnly: true });
  try {
    return (db.prepare(`select name from pragma_table_info('${table}')`).all() as { name: string }[]).map(
      (r) => r.name,
    );
  } finally {
    db.close();
  }
};

const drillJson = async (id: string) =>
  JSON.parse((await h.cli('drills', 'show', id, '--json')).stdout) as { status: string; report: DrillReport };

const status = async () => JSON.parse((await h.cli('status', 'shop', '--json')).stdout);
const revision = async (n: number) =>
  (
    JSON.parse((await h.cli('history', 'shop', '--json')).stdout) as {
      number: number;
      version: string;
      copiedFrom: number | null;
    }[]
  ).find((r) => r.number === n);

before(async () => {
  h = await startRewind({ config: drillShopConfig, setup: writeDrillReleases });
  await waitFor('v1 serving', async () => (await fetch(h.appUrl).catch(() => null))?.ok);
  await waitFor('v1 migrated', async () => columns('customers').length > 0);
  const flags = await h.cli('flags', 'set', 'shop', '--file', join(h.dir, 'flags.json'));
  assert.equal(flags.code, 0, flags.stderr);
});
after(() => h?.close());

let firstDrill: DrillReport;

test('a drill of v2 rolls back after its contract migration, verifies v1, rehearses the flag; every checklist line measured', async () => {
  const load = startLoad(h.appUrl, 2);
  const run = await h.cli('drill', 'shop', '--version', 'v2');
  const loadResult = await load.stop();
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /deploying v2 as revision \d+ \(blueGreen\)/);
  assert.match(run.stdout, /rolling back on purpose to revision 1/);
  assert.match(run.stdout, /Full Rollback\s+PASS/);
  const id = /drill (drill-\S+): shop, version v2/.exec(run.stdout)![1]!;
  const { status: drillStatus, report } = await drillJson(id);
  assert.equal(drillStatus, 'Passed');
  assert.deepEqual(report.failures, []);

  // Full rollback: real times, in order, and the shop back on (a copy of) revision 1.
  const full = report.fullRollback!;
  assert.equal(full.phase, 'Completed');
  assert.ok(full.msToTrafficRestored! > 0, `traffic restored after ${full.msToTrafficRestored} ms`);
  assert.ok(full.msToVerified! > full.msToTrafficRestored!, 'verified after traffic came back');
  assert.equal(full.backOnStable, true);
  const s = await status();
  assert.equal(s.stableVersion, 'v1');
  assert.equal(s.stableRevision, full.revision);
  assert.equal((await revision(s.stableRevision))?.copiedFrom, 1);
  assert.equal(s.activeRollout, null);
  const traffic = (await (await fetch(`${h.appUrl}/products`)).headers.get('x-shop-version')) ?? '';
  assert.equal(traffic, 'v1');

  // Database rollback: what the deploy applied (expand and contract) is what the rollback undid;
  // fingerprint and row checksums compared against what was recorded before.
  const db = report.database!;
  assert.deepEqual(db.applied, ['0003_add_gift_note', '0004_drop_legacy_code']);
  assert.deepEqual([...db.undone].sort(), [...db.applied].sort());
  assert.deepEqual(columns('orders'), ['id', 'item', 'legacy_code']);
  const check = (name: string) => db.checks.find((c) => c.name === name);
  assert.equal(check('database schema fingerprint')?.passed, true, JSON.stringify(db.checks));
  assert.equal(check('database data unchanged')?.passed, true, 'customers compared by checksum');
  assert.match(check('database data unchanged')!.detail, /1 untouched table/);

  // Partial rollback: the kill-switch flag off and on again, each timed and checked.
  assert.equal(report.partialRollbacks.length, 1);
  const flag = report.partialRollbacks[0]!;
  assert.equal(flag.flag, 'recommendations');
  assert.equal(flag.passed, true);
  assert.ok(flag.offMs! > 0 && flag.onMs! > 0);
  assert.deepEqual(
    flag.checks.map((c) => `${c.name} ${c.passed}`),
    ['flag disabled in force true', 'flag enabled in force true'],
  );
  const flagNow = JSON.parse((await h.cli('flags', 'list', 'shop', '--json')).stdout);
  assert.equal(JSON.stringify(flagNow).includes('"DISABLED"'), false, 'the flag is on again');

  // Verification as after a real rollback, and phase times that add up.
  assert.equal(report.verification!.passed, true);
  const names = report.verification!.checks.map((c) => c.name);
  for (const n of [
    'health',
    'GET /products',
    'error rate back to its level before the rollout',
    'back on the stable revision',
  ])
    assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
  assert.deepEqual(
    report.phases.map((p) => p.name),
    ['deploy', 'rollback', 'verify', 'partial'],
  );
  for (const p of report.phases) assert.ok(p.ms > 0, `${p.name} ${p.ms} ms`);
  assert.deepEqual(report.previous, [], 'the first drill of the shop');

  // A drill is no incident: none opened, and what people heard says "drill".
  const incidents = JSON.parse((await h.cli('incidents', '--app', 'shop', '--json')).stdout);
  assert.deepEqual(incidents, []);
  const events = JSON.parse(
    (await (await h.fetch(`${h.apiUrl}/api/v1/rollouts/${full.rolloutId}/events`)).text()) || '[]',
  ) as { type: string; message: string }[];
  assert.match(events.find((e) => e.type === 'rollback.started')!.message, new RegExp(`^drill ${id}: `));
  assert.match(h.output(), new RegExp(`Rollback drill passed: drill ${id}`));
  const audit = JSON.parse((await h.cli('audit', '--app', 'shop', '--json')).stdout) as {
    entries: { route: string; reason: string | null }[];
  };
  const entry = audit.entries.find((e) => e.route === '/api/v1/apps/:app/drills');
  assert.match(entry?.reason ?? '', new RegExp(`rollback drill ${id} of v2`));
  assert.equal(loadResult.failed, 0, 'no request failed while the drill deployed and rolled back');

  // The report: Markdown with the runbook's checklist, the list, and the status.
  const md = (await h.cli('drills', 'show', id)).stdout;
  assert.equal((await h.cli('drills', 'show', 'latest')).stdout, md, '`latest` is the newest drill');
  for (const line of [
    'Full Rollback',
    'Partial Rollback',
    'Database Rollback',
    'Rollback Time',
    'Rollback Verification',
  ])
    assert.match(md, new RegExp(`\\| \\*\\*${line}\\*\\* \\| PASS \\|`));
  assert.match((await h.cli('drills')).stdout, new RegExp(`${id}\\s+shop\\s+v2\\s+Passed`));
  assert.equal(s.lastProvenDrill.id, id);
  assert.match((await h.cli('status', 'shop')).stdout, new RegExp(`way back: proven by drill ${id}`));
  firstDrill = report;
});

test('a drill of the stable version onto itself passes, undoes nothing, compares its time with the last, and leaves the flags as it found them', async () => {
  // The stable revision records flag-set version N; people change a flag since. The drill's
  // rollback brings N back (as a real one would); the drill then puts the newer set back.
  const config = await h.cli('config', 'set', 'shop', 'SHOP_GREETING=hello', '--wait');
  assert.equal(config.code, 0, config.stdout + config.stderr);
  const changed = await h.cli(
    'flags',
    'set',
    'shop',
    'recommendations',
    '--json-text',
    JSON.stringify({ state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' }),
  );
  assert.equal(changed.code, 0, changed.stderr);
  const defaultVariant = async () =>
    JSON.parse((await h.cli('flags', 'get', 'shop', 'recommendations')).stdout).definition.defaultVariant;
  assert.equal(await defaultVariant(), 'off');
  // Through the API, as CI would; one drill of an app at a time.
  const post = () =>
    h.fetch(`${h.apiUrl}/api/v1/apps/shop/drills`, {
      method: 'POST',
      body: JSON.stringify({ version: 'stable' }),
    });
  const started = await post();
  assert.equal(started.status, 202);
  const { id } = (await started.json()) as { id: string };
  const again = await post();
  assert.equal(again.status, 409);
  assert.match(await again.text(), new RegExp(`DRILL_IN_PROGRESS.*${id}`));
  const { status: drillStatus, report } = await waitFor(
    'the stable drill to end',
    async () => {
      const d = await drillJson(id);
      return d.status === 'Running' ? undefined : d;
    },
    120_000,
  );
  assert.equal(drillStatus, 'Passed', report.failures.join('; '));
  assert.equal(report.version, 'v1');
  assert.deepEqual(report.database!.applied, []);
  assert.equal(report.database!.checks.find((c) => c.name === 'database schema fingerprint')?.passed, true);
  assert.deepEqual(
    report.previous.map((p) => p.id),
    [firstDrill.id],
  );
  assert.equal(report.previous[0]!.msToTrafficRestored, firstDrill.fullRollback!.msToTrafficRestored);
  const md = (await h.cli('drills', 'show', report.id)).stdout;
  assert.match(md, /median of the 1 previous drill\(s\)/);
  assert.ok(
    report.progress.some((p) =>
      /flag set version \d+ \(in force before the drill\) put back/.test(p.message),
    ),
    report.progress.map((p) => p.message).join('\n'),
  );
  assert.equal(await defaultVariant(), 'off', 'the flag as people left it, not as the old revision had it');
});

test('a release whose down migration fails fails its drill with the reason, and the shop stays on v1', async () => {
  const run = await h.cli('drill', 'shop', '--version', 'v3');
  assert.equal(run.code, 1, run.stdout + run.stderr);
  assert.match(run.stdout, /drill FAILED/);
  const id = /drill (drill-\S+): shop, version v3/.exec(run.stdout)![1]!;
  const { status: drillStatus, report } = await drillJson(id);
  assert.equal(drillStatus, 'Failed');
  assert.deepEqual(report.database!.applied, ['0005_add_email']);
  assert.deepEqual(report.database!.undone, []);
  assert.ok(
    report.failures.some((f) => /database rollback: undo failed: .*0005_add_email/.test(f)),
    report.failures.join('\n'),
  );
  assert.ok(report.failures.some((f) => /left applied: 0005_add_email/.test(f)));
  assert.equal(
    report.database!.checks.find((c) => c.name === 'database schema fingerprint')?.passed,
    false,
    'the schema is not what v1 expects',
  );
  const md = (await h.cli('drills', 'show', id)).stdout;
  assert.match(md, /\| \*\*Database Rollback\*\* \| FAIL \|/);
  // The traffic way back worked: v1 serves, and no incident was opened for a rehearsal.
  const s = await status();
  assert.equal(s.stableVersion, 'v1');
  assert.equal(report.fullRollback!.backOnStable, true);
  assert.equal((await (await fetch(`${h.appUrl}/products`)).headers.get('x-shop-version')) ?? '', 'v1');
  assert.deepEqual(JSON.parse((await h.cli('incidents', '--app', 'shop', '--json')).stdout), []);
  // The way back was last proven by the passed drills, not this one.
  assert.notEqual(s.lastProvenDrill.id, id);
  assert.match((await h.cli('drills', '--app', 'shop')).stdout, new RegExp(`${id}\\s+shop\\s+v3\\s+Failed`));
});

test('a drill of a version that cannot deploy is refused with the reason; a bad label changes nothing', async () => {
  const before = JSON.parse((await h.cli('drills', '--json')).stdout).length;
  const bad = await h.cli('drill', 'shop', '--version', '../etc');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /version "\.\.\/etc" is not valid/);
  assert.equal(JSON.parse((await h.cli('drills', '--json')).stdout).length, before, 'no drill recorded');
  const missing = await h.cli('drill', 'shop', '--version', 'v9');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /v9/);
  const [refused] = JSON.parse((await h.cli('drills', '--json')).stdout);
  assert.equal(refused.version, 'v9');
  assert.equal(refused.status, 'Failed');
  assert.match(refused.failures[0], /the deploy of v9 was refused/);
  assert.equal((await status()).stableVersion, 'v1');
});
