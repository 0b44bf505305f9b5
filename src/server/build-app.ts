// The HTTP API, built apart from listen() so tests can inject requests. Routes map transport to
// the controller and store; coded errors become responses in one handler.
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { installGuard, noteAudit } from './api-guard.ts';
import { errorResponse, serializerCompiler, validatorCompiler } from './api-validation.ts';
import type { AppServices } from './app-services.ts';
import { appViews } from './app-views.ts';
import { LiveFeed } from './live-feed.ts';
import { registerOpenApi } from './openapi.ts';
import { appRoutes } from './routes/app-routes.ts';
import { dashboardRoutes } from './routes/dashboard-routes.ts';
import { dbRoutes } from './routes/db-routes.ts';
import { drillRoutes } from './routes/drill-routes.ts';
import { flagRoutes } from './routes/flag-routes.ts';
import { healthRoutes } from './routes/health-routes.ts';
import { incidentRoutes } from './routes/incident-routes.ts';
import { maintenanceRoutes } from './routes/maintenance-routes.ts';
import { revisionRoutes } from './routes/revision-routes.ts';
import { securityRoutes } from './routes/security-routes.ts';
import { loadStaticSite } from './static-site.ts';

/** Where `npm run build:web` puts the dashboard. */
export const WEB_ROOT = fileURLToPath(new URL('../../web/dist/', import.meta.url));

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
    maintenanceRoutes,
  ])
    api.register(area, deps);
  const feed = new LiveFeed({
    views: appViews(services),
    appNames: () => controller.appNames(),
    metrics: services.metrics,
    onEvent: (listener) => services.store.events.onAppend(listener),
    onError: (err) => services.onError?.(err),
  });
  app.addHook('onClose', async () => feed.close());
  api.register(dashboardRoutes, { ...deps, feed, site: loadStaticSite(services.webRoot ?? WEB_ROOT) });
  return app;
}
