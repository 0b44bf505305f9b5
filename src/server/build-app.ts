// The HTTP API, built apart from listen() so tests can inject requests. Routes map transport to
// the controller and store; coded errors become responses in one handler.
import Fastify, { type FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { DatabaseService } from '../features/database/database-service.ts';
import type { DrillService } from '../features/drills/drill-service.ts';
import type { FlagService } from '../features/flags/flag-service.ts';
import type { IncidentService } from '../features/incidents/incident-service.ts';
import type { RotationResult } from '../features/revisions/rotate-secrets-key.ts';
import type { Controller } from '../features/rollouts/controller.ts';
import type { Runtime } from '../providers/runtimes/types.ts';
import type { MetricsBucket, RouteTable } from '../proxy/types.ts';
import type { Store } from '../store/types.ts';
import { type GuardOptions, installGuard, noteAudit } from './api-guard.ts';
import { errorResponse, serializerCompiler, validatorCompiler } from './api-validation.ts';
import type { Health } from './health.ts';
import { registerOpenApi } from './openapi.ts';
import { appRoutes } from './routes/app-routes.ts';
import { dbRoutes } from './routes/db-routes.ts';
import { drillRoutes } from './routes/drill-routes.ts';
import { flagRoutes } from './routes/flag-routes.ts';
import { healthRoutes } from './routes/health-routes.ts';
import { incidentRoutes } from './routes/incident-routes.ts';
import { revisionRoutes } from './routes/revision-routes.ts';
import { securityRoutes } from './routes/security-routes.ts';

export interface AppServices {
  readonly controller: Controller;
  readonly flags: FlagService;
  readonly database: DatabaseService;
  readonly store: Store;
  readonly runtime: Runtime;
  readonly metrics: (app: string, sinceSecond: number) => Promise<MetricsBucket[]>;
  readonly routes: (app: string) => Promise<RouteTable | undefined>;
  readonly incidents: IncidentService;
  /** Rollback drills (features/drills). */
  readonly drills: DrillService;
  readonly version: string;
  /** Tokens, audit trail, Host/Origin policy (api-guard.ts). */
  readonly security: GuardOptions;
  /** `rewind secrets rotate-key`: re-seal every stored secret under a new key. */
  readonly rotateSecretsKey?: (newKey: string) => Promise<RotationResult>;
  /** /healthz and /readyz (health.ts). Default: the store alone, for an API without a data plane. */
  readonly health?: Health;
  /** TLS: PEM certificate and key (server.tls in rewind.yaml). */
  readonly https?: { readonly cert: Buffer; readonly key: Buffer };
}

/**
 * The one composition root of the API: the front door (api-guard.ts), validation and coded errors
 * (api-validation.ts), the OpenAPI document (openapi.ts), then one plugin per area (routes/).
 */
export function buildApp(services: AppServices): FastifyInstance {
  const { controller } = services;
  const app = (
    services.https ? Fastify({ logger: false, https: services.https }) : Fastify({ logger: false })
  ) as FastifyInstance;
  installGuard(app, services.security);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerOpenApi(app, services.version);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'rewind_' });
  const requests = new Counter({
    name: 'rewind_api_requests_total',
    help: 'API requests',
    labelNames: ['method', 'status'],
    registers: [registry],
  });
  new Gauge({
    name: 'rewind_apps',
    help: 'Apps under control',
    registers: [registry],
    collect() {
      this.set(controller.appNames().length);
    },
  });
  const rolloutsStarted = new Counter({
    name: 'rewind_rollouts_started_total',
    help: 'Rollouts started',
    labelNames: ['app', 'kind'],
    registers: [registry],
  });

  app.addHook('onResponse', async (req, reply) => {
    requests.inc({ method: req.method, status: String(reply.statusCode) });
  });
  app.setErrorHandler((err, req, reply) => {
    noteAudit(req, { error: (err as Error).message });
    const r = errorResponse(err);
    return reply.status(r.status).send(r.body);
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({
      error: {
        code: 'ROUTE_NOT_FOUND',
        message: `no route ${req.method} ${req.url}; see /api/v1/openapi.json`,
      },
    }),
  );

  const deps = { ...services, rolloutsStarted };
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.register(healthRoutes, { ...deps, registry });
  for (const area of [
    appRoutes,
    revisionRoutes,
    incidentRoutes,
    securityRoutes,
    dbRoutes,
    drillRoutes,
    flagRoutes,
  ])
    api.register(area, deps);
  return app;
}
