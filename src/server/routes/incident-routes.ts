// Incidents: every rollback opens one; read them as JSON or the report as Markdown.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { appListQuery, formatQuery, idParams } from '../../api/requests.ts';
import { incident } from '../../api/responses.ts';
import { renderIncidentMarkdown } from '../../features/incidents/render-markdown.ts';
import { RewindError } from '../../shared/errors.ts';
import { requireApp } from '../api-guard.ts';
import { errors, type RouteDeps } from './route-kit.ts';

export const incidentRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, deps) => {
  const { controller, incidents } = deps;
  app.get(
    '/api/v1/incidents',
    {
      schema: {
        summary:
          'Incidents, newest first (every rollback opens one), without their evidence: one incident has it',
        querystring: appListQuery,
        response: { 200: z.array(incident), ...errors },
      },
    },
    async (req) => {
      const appName = req.query.app || req.principal?.app || undefined;
      if (appName) {
        controller.context(appName);
        requireApp(req, appName);
      }
      // The evidence (log lines, per-second series) is tens of KiB an incident: a list leaves it out.
      return (await incidents.list({ app: appName, limit: req.query.limit ?? 50 })).map(
        ({ evidence: _, ...summary }) => summary,
      );
    },
  );
  app.get(
    '/api/v1/incidents/:id',
    {
      schema: {
        summary: 'One incident as JSON, or its report as Markdown (format=md)',
        params: idParams,
        querystring: z.object({ format: formatQuery }),
        response: {
          200: {
            description: 'The incident',
            content: { 'application/json': { schema: incident }, 'text/markdown': { schema: z.string() } },
          },
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const found = await incidents.get(req.params.id);
      if (!found)
        throw new RewindError(
          'INCIDENT_NOT_FOUND',
          `no incident ${req.params.id}; list them with rewind incidents`,
          {
            id: req.params.id,
          },
        );
      requireApp(req, found.app);
      if (req.query.format === 'md')
        return reply.type('text/markdown; charset=utf-8').send(renderIncidentMarkdown(found));
      return found;
    },
  );
};
