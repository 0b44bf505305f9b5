// The provider seams: a runtime, a health source and a traffic router registered under a type of
// their own run a whole rollout (deploy, then rollback) through the controller, with no agent, no
// process and no proxy, and with no file under features/rollouts/ knowing about them.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { registerFakeProviders } from '../../test/support/fake-providers.ts';
import { tempDir, waitFor } from '../../test/support/process-fixtures.ts';
import { type ConfigError, parseConfig } from '../features/apps/load-config.ts';
import { IncidentService } from '../features/incidents/incident-service.ts';
import { Controller } from '../features/rollouts/controller.ts';
import { silentLogger } from '../shared/logger.ts';
import { openStore } from '../store/open-store.ts';
import type { Store } from '../store/types.ts';
import { createAppProviders, providerTypes } from './registry.ts';

const fakes = registerFakeProviders('fake');
let dir: { dir: string; remove: () => Promise<void> };
let store: Store;

before(async () => {
  dir = await tempDir('rewind-providers-');
  store = await openStore({ dataDir: dir.dir });
});
after(async () => {
  fakes.unregister();
  await store.close();
  await dir.remove();
});

const CONFIG = `
apps:
  - name: shop
    listen: 127.0.0.1:18999
    run: { command: "shop --version \${version}" }
    runtime: { type: fake }
    traffic: { type: fake }
    health: { type: fake }
    metrics: { type: fake }
    strategy: { blueGreen: { bake: 0s, watch: 0s, keepPreviousWarm: 1m, drainTimeout: 1s } }
`;

test('an unknown provider type is a config error naming the field, the value and the types', () => {
  assert.throws(
    () =>
      parseConfig(CONFIG.replace('runtime: { type: fake }', 'runtime: { type: nomad }'), 'rewind.yaml', {
        providerTypes: providerTypes(),
      }),
    (err: ConfigError) => {
      assert.equal(err.problems.length, 1);
      assert.equal(err.problems[0]!.path, 'apps.0.runtime.type');
      assert.equal(err.problems[0]!.line, 6);
      assert.match(
        err.problems[0]!.message,
        /"nomad" is not a runtime provider; the types are: process, kubernetes, fake/,
      );
      return true;
    },
  );
});

test('an unknown metrics source is refused the same way', () => {
  assert.throws(
    () =>
      parseConfig(CONFIG.replace('metrics: { type: fake }', 'metrics: { type: datadog }'), 'rewind.yaml', {
        providerTypes: providerTypes(),
      }),
    (err: ConfigError) => {
      assert.equal(err.problems[0]!.path, 'apps.0.metrics.type');
      assert.match(
        err.problems[0]!.message,
        /"datadog" is not a metrics provider; the types are: builtin, prometheus, fake/,
      );
      return true;
    },
  );
});

test('the built-in providers are the defaults', () => {
  const app = parseConfig('apps:\n  - { name: shop, listen: "8080", run: { command: x } }\n').apps[0]!;
  assert.deepEqual(
    [app.runtime.type, app.traffic.type, app.metrics.type, app.health.type],
    ['process', 'builtin', 'builtin', 'probe'],
  );
});

test('a rollout and its rollback run on providers registered from outside', async () => {
  const [spec] = parseConfig(CONFIG, 'rewind.yaml', { providerTypes: providerTypes() }).apps;
  const providers = await createAppProviders({
    app: spec!,
    baseDir: dir.dir,
    dataDir: dir.dir,
    log: silentLogger,
    agent: () => Promise.reject(new Error('no built-in provider may ask for the agent here')),
  });
  const controller = new Controller({
    store,
    log: silentLogger,
    metrics: providers.metrics,
    incidents: new IncidentService({ store }),
    notify: () => {},
    tickMs: 20,
  });
  await controller.register(spec!, dir.dir, providers);
  controller.start();
  try {
    const stable = (n: number) => async () => (await store.apps.get('shop'))?.stableRevision === n;
    await waitFor('the initial deploy', stable(1), 10_000);
    assert.deepEqual(fakes.traffic.applied.at(-1)?.revisions, [{ revision: 1, unit: 1, weight: 100 }]);

    await controller.deploy('shop', { version: 'v2' });
    await waitFor('the deploy of v2', stable(2), 10_000);
    // Revision 1 stays warm at weight 0 (keepPreviousWarm), its instance still up.
    assert.deepEqual(fakes.traffic.applied.at(-1)?.revisions, [
      { revision: 2, unit: 2, weight: 100 },
      { revision: 1, unit: 1, weight: 0 },
    ]);
    assert.deepEqual(fakes.runtime.calls, ['start 1/0', 'start 2/0']);

    const rollback = await controller.rollback('shop', { reason: 'test' });
    // Warm: the switch was made before rollback() answered, on revision 1's instance (unit 1).
    assert.deepEqual(
      fakes.traffic.applied.at(-1)?.revisions.find((r) => r.weight === 100),
      {
        revision: rollback.toRevision,
        unit: 1,
        weight: 100,
      },
    );
    const done = await waitFor(
      'the rollback to finish',
      async () => {
        const r = await store.rollouts.get(rollback.id);
        return r?.finishedAt != null && r;
      },
      20_000,
    );
    assert.equal(done.phase, 'Completed');
    assert.equal((await store.apps.get('shop'))?.stableRevision, rollback.toRevision);
    // The rolled-back revision 2 was drained (the router said 0 in flight) and stopped.
    await waitFor('revision 2 stopped', () => fakes.runtime.calls.includes('stop 2'), 10_000);
    // The restored revision is verified through the app's health source (a fresh check of its instance).
    const verified = await waitFor(
      'the verification of the rollback',
      async () =>
        (await store.events.list({ app: 'shop', rolloutId: rollback.id })).find((e) =>
          e.type.startsWith('rollout.verif'),
        ),
      20_000,
    );
    const checks = (verified.data as { checks: { name: string; passed: boolean; detail: string }[] }).checks;
    assert.deepEqual(
      checks.find((c) => c.name === 'health'),
      { name: 'health', passed: true, detail: '1 instance(s) healthy' },
    );
  } finally {
    await controller.stop();
  }
});

test('features/rollouts/ runs no provider code: it imports types of providers only', () => {
  const folder = join(import.meta.dirname, '../features/rollouts');
  for (const file of readdirSync(folder, { recursive: true, encoding: 'utf8' }).filter(
    (f) => f.endsWith('.ts') && !f.endsWith('.test.ts'),
  )) {
    const text = readFileSync(join(folder, file), 'utf8');
    assert.doesNotMatch(
      text,
      /^import (?!type )[^;]*from '[./]*providers\//m,
      `${file} imports provider code`,
    );
  }
});
