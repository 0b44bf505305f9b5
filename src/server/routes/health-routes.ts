// Health for load balancers (/healthz, /readyz: public), Prometheus metrics and the OpenAPI
// document (both for viewers, and outside the document itself).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import { healthReport, readyReport } from '../../api/responses.ts';
import { createHealth } from '../health.ts';
import type { RouteDeps } from './route-kit.ts';

export interface HealthRouteDeps extends RouteDeps {
  readonly registry: Registry;
}

export const healthRoutes: FastifyPluginAsyncZod<HealthRouteDeps> = async (app, deps) => {
  const health =
    deps.health ?? createHealth({ pingStore: () => deps.store.apps.list(), appsWithoutRoutes: () => [] });
  // 503 while degraded or not ready: what load balancers and orchestrators act on.
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Whether every part is up: the store answers, the agent answers, every proxy worker serves',
        response: {
          200: healthReport,
          503: healthReport.describe('Degraded: the checks that fail say why'),
        },
      },
    },
    async (_req, reply) => {
      const report = await health.health();
      return reply.code(report.status === 'ok' ? 200 : 503).send(report);
    },
  );
  app.get(
    '/readyz',
    {
      schema: {
        summary:
          'Whether this server can act (for load balancers): store open, agent connected, route tables applied',
        response: { 200: readyReport, 503: readyReport.describe('Not ready: the reasons say why') },
      },
    },
    async (_req, reply) => {
      const report = await health.ready();
      return reply.code(report.ready ? 200 : 503).send(report);
    },
  );
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) =>
    reply.type(deps.registry.contentType).send(await deps.registry.metrics()),
  );
  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
};
