// A Controller over in-memory fakes and a real SQLite store in a temporary directory, for unit
// tests of the reconcile loop: one app ("shop") whose strategy a test chooses; no agent, no
// process, no proxy.
import { parseConfig } from '../../src/features/apps/load-config.ts';
import { IncidentService } from '../../src/features/incidents/incident-service.ts';
import { Controller } from '../../src/features/rollouts/controller.ts';
import { silentLogger } from '../../src/shared/logger.ts';
import type { AppSpec } from '../../src/spec/app-spec.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { RolloutRecord, Store } from '../../src/store/types.ts';
import { FakeMetrics, fakeAppProviders } from './fake-providers.ts';
import { tempDir, waitFor } from './process-fixtures.ts';

/** Blue-green with nothing to wait for after the switch; the replaced revision stays warm 1 min. */
export const BLUE_GREEN = '{ blueGreen: { bake: 0s, watch: 0s, keepPreviousWarm: 1m, drainTimeout: 1s } }';
/** A canary that stops at 40% until promoted. */
export const CANARY_AT_40 =
  '{ canary: { steps: [{ setWeight: 40 }, { pause: {} }, { setWeight: 100 }], bake: 0s, watch: 0s, keepPreviousWarm: 1m, drainTimeout: 1s } }';

/** `more`: further keys of the app, as YAML lines indented by four spaces. */
export function shopSpec(strategy = BLUE_GREEN, more = ''): AppSpec {
  return parseConfig(`
apps:
  - name: shop
    listen: 127.0.0.1:18999
    run: { command: "shop --version \${version}" }
    strategy: ${strategy}
${more}`).apps[0]!;
}

/** A SQLite store in a fresh temporary directory; close() closes it and removes the directory. */
export async function tempSqliteStore(
  prefix: string,
): Promise<{ store: Store; dir: string; close(): Promise<void> }> {
  const dir = await tempDir(prefix);
  const store = await openStore({ dataDir: dir.dir });
  return {
    store,
    dir: dir.dir,
    close: async () => {
      await store.close();
      await dir.remove();
    },
  };
}

export interface ControllerFixture {
  readonly controller: Controller;
  readonly store: Store;
  readonly spec: AppSpec;
  readonly providers: ReturnType<typeof fakeAppProviders>;
  /** The app's base dir (where its rewind.yaml would be). */
  readonly dir: string;
  /** Resolves once the app's stable revision is `n`. */
  stableIs(n: number): Promise<void>;
  close(): Promise<void>;
}

/** Registers "shop" with `strategy`; `start` runs the tick loop (the first tick deploys v1). */
export async function controllerOverFakes(
  options: { strategy?: string; start?: boolean; more?: string } = {},
): Promise<ControllerFixture> {
  const temp = await tempSqliteStore('rewind-controller-');
  const { store } = temp;
  const spec = shopSpec(options.strategy, options.more);
  const providers = fakeAppProviders();
  const controller = new Controller({
    store,
    log: silentLogger,
    metrics: new FakeMetrics(),
    incidents: new IncidentService({ store }),
    notify: () => {},
    tickMs: 10,
  });
  await controller.register(spec, temp.dir, providers);
  if (options.start ?? true) controller.start();
  return {
    controller,
    store,
    spec,
    providers,
    dir: temp.dir,
    stableIs: async (n) => {
      await waitFor(
        `stable revision ${n}`,
        async () => (await store.apps.get('shop'))?.stableRevision === n,
        10_000,
      );
    },
    close: async () => {
      await controller.stop();
      await temp.close();
    },
  };
}

/** Resolves with the rollout once it has finished (any phase). */
export function rolloutFinished(store: Store, id: string): Promise<RolloutRecord> {
  return waitFor(
    `rollout ${id} finished`,
    async () => {
      const r = await store.rollouts.get(id);
      return r?.finishedAt != null && r;
    },
    10_000,
  );
}
