// The HTTP API alone, in this process: buildApp() over a real SQLite store with examples/shop
// registered, the controller not started and no agent. For tests that inject requests and for
// the benchmark of the front door (bench/lib/api-child.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfigFile } from '../../src/features/apps/load-config.ts';
import { AuditService } from '../../src/features/auth/audit-service.ts';
import { OfrepTokens } from '../../src/features/auth/ofrep-tokens.ts';
import type { Role } from '../../src/features/auth/roles.ts';
import { TokenService } from '../../src/features/auth/token-service.ts';
import { DatabaseService } from '../../src/features/database/database-service.ts';
import { DrillService } from '../../src/features/drills/drill-service.ts';
import { FlagService } from '../../src/features/flags/flag-service.ts';
import { IncidentService } from '../../src/features/incidents/incident-service.ts';
import { Controller } from '../../src/features/rollouts/controller.ts';
import type { HealthSource } from '../../src/providers/health-source.ts';
import type { MetricsSource } from '../../src/providers/metrics-source.ts';
import type { Runtime } from '../../src/providers/runtime.ts';
import type { TrafficRouter } from '../../src/providers/traffic-router.ts';
import { buildApp } from '../../src/server/build-app.ts';
import { silentLogger } from '../../src/shared/logger.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/types.ts';
import { ROOT } from './rewind-harness.ts';

export interface InProcessApi {
  readonly api: FastifyInstance;
  readonly store: Store;
  /** A token with the role asked for. */
  readonly token: string;
  close(): Promise<void>;
}

export async function inProcessApi(options: {
  /** The port the guard takes as the API's own (Host headers must name it). */
  readonly port: number;
  readonly role: Role;
  /** false: the front door's checks off (the benchmark's baseline). */
  readonly guard?: boolean;
  /** The built dashboard to serve (default: web/dist). */
  readonly webRoot?: string;
  /** What the routes see in place of the store (a test's failing store). */
  readonly storeSeenByRoutes?: (store: Store) => Store;
}): Promise<InProcessApi> {
  const dir = mkdtempSync(join(tmpdir(), 'rewind-api-'));
  const store = await openStore({ dataDir: dir });
  // Nothing runs: routes read the store; the runtime lists nothing and traffic has no table.
  const runtime = { list: async () => [] } as unknown as Runtime;
  const traffic = { current: async () => undefined } as unknown as TrafficRouter;
  const health = { observe: () => {}, verdict: () => 'Unknown', detail: () => '' } as unknown as HealthSource;
  const incidents = new IncidentService({ store });
  const flags = new FlagService({ store });
  const noMetrics: MetricsSource = { read: async () => ({ phase: 'Successful', samples: [] }) };
  const controller = new Controller({
    store,
    log: silentLogger,
    metrics: { read: async () => ({ phase: 'Successful', samples: [] }) },
    incidents,
    notify: () => {},
    flags,
  });
  const loaded = loadConfigFile(join(ROOT, 'examples/shop/rewind.yaml'));
  for (const app of loaded.config.apps)
    await controller.register(app, loaded.baseDir, { runtime, traffic, health, metrics: noMetrics });
  const tokens = new TokenService({ store });
  const { token } = await tokens.create({ name: options.role, role: options.role });
  const api = buildApp({
    controller,
    flags,
    database: new DatabaseService(),
    store: options.storeSeenByRoutes?.(store) ?? store,
    runtime,
    metrics: async () => [],
    incidents,
    drills: new DrillService({ store, controller, flags, log: silentLogger, notify: () => {} }),
    routes: async () => undefined,
    version: 'test',
    ...(options.webRoot && { webRoot: options.webRoot }),
    security: {
      tokens,
      audit: new AuditService({ store }),
      ofrep: OfrepTokens.forDataDir(dir),
      listen: { host: '127.0.0.1', port: options.port },
      enabled: options.guard !== false,
    },
  });
  return {
    api,
    store,
    token,
    async close() {
      await api.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
