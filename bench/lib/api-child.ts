// The HTTP API alone, for bench/auth.ts: buildApp() over a real SQLite store with examples/shop
// registered, the controller not started and no agent (GET /api/v1/apps reads the store only).
// Usage: node bench/lib/api-child.ts on|off  ->  prints "ready PORT TOKEN"
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile } from '../../src/features/apps/load-config.ts';
import { AuditService } from '../../src/features/auth/audit-service.ts';
import { OfrepTokens } from '../../src/features/auth/ofrep-tokens.ts';
import { TokenService } from '../../src/features/auth/token-service.ts';
import { DatabaseService } from '../../src/features/database/database-service.ts';
import { DrillService } from '../../src/features/drills/drill-service.ts';
import { FlagService } from '../../src/features/flags/flag-service.ts';
import { IncidentService } from '../../src/features/incidents/incident-service.ts';
import { Controller } from '../../src/features/rollouts/controller.ts';
import type { HealthSource } from '../../src/providers/health-source.ts';
import type { Runtime } from '../../src/providers/runtime.ts';
import type { TrafficRouter } from '../../src/providers/traffic-router.ts';
import { buildApp } from '../../src/server/build-app.ts';
import { silentLogger } from '../../src/shared/logger.ts';
import { openStore } from '../../src/store/open-store.ts';
import { freePort, ROOT } from '../../test/support/rewind-harness.ts';

const mode = process.argv[2];
if (mode !== 'on' && mode !== 'off') {
  process.stderr.write('usage: api-child.ts on|off\n');
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), `rewind-bench-auth-${mode}-`));
const store = await openStore({ dataDir: dir });
// Nothing runs: the benchmark reads app status from the store only.
const runtime = { list: async () => [] } as unknown as Runtime;
const traffic = { current: async () => undefined } as unknown as TrafficRouter;
const incidents = new IncidentService({ store });
const flags = new FlagService({ store });
const health = { observe: () => {}, verdict: () => 'Unknown', detail: () => '' } as unknown as HealthSource;
const controller = new Controller({
  store,
  log: silentLogger,
  metrics: async () => [],
  incidents,
  notify: () => {},
  flags,
});
const loaded = loadConfigFile(join(ROOT, 'examples/shop/rewind.yaml'));
for (const app of loaded.config.apps)
  await controller.register(app, loaded.baseDir, { runtime, traffic, health });
const tokens = new TokenService({ store });
const { token } = await tokens.create({ name: 'bench', role: 'viewer' });
const port = await freePort();
const api = buildApp({
  controller,
  flags,
  database: new DatabaseService(),
  store,
  runtime,
  metrics: async () => [],
  incidents,
  drills: new DrillService({ store, controller, flags, log: silentLogger, notify: () => {} }),
  routes: async () => undefined,
  version: 'bench',
  security: {
    tokens,
    audit: new AuditService({ store }),
    ofrep: OfrepTokens.forDataDir(dir),
    listen: { host: '127.0.0.1', port },
    enabled: mode === 'on',
  },
});
await api.listen({ host: '127.0.0.1', port });
process.stdout.write(`ready ${port} ${token}\n`);
const stop = () => {
  void api.close().then(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
