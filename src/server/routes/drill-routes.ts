// Rollback drills over HTTP: start one (the drill runs in the server; follow it by its id), list
// them, read one report as JSON or Markdown. A drill acts like a deploy and a rollback, so it
// takes the role those take.
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { appListQuery, appParams, drillBody, formatQuery, idParams } from '../../api/requests.ts';
import { type DrillSummary, drill, drillSummary } from '../../api/responses.ts';
import type { DrillReport } from '../../features/drills/drill-report.ts';
import { STABLE_VERSION } from '../../features/drills/drill-service.ts';
import { renderDrillMarkdown } from '../../features/drills/render-drill-markdown.ts';
import { checkVersion } from '../../features/rollouts/controller.ts';
import { RewindError } from '../../shared/errors.ts';
import type { DrillRecord, Store } from '../../store/types.ts';
import { actorOf, noteAudit, requireApp } from '../api-guard.ts';
import { errors, type RouteDeps } from './route-kit.ts';

/** The list view: the checklist's numbers without the progress lines. */
function summary(d: DrillRecord): DrillSummary {
  const r = d.report as DrillReport;
  return {
    id: d.id,
    app: d.app,
    version: d.version,
    status: d.status,
    startedAt: d.createdAt,
    finishedAt: d.finishedAt,
    msToTrafficRestored: r.fullRollback?.msToTrafficRestored ?? null,
    msToVerified: r.fullRollback?.msToVerified ?? null,
    failures: [...r.failures],
  };
}

/** When the app's way back was last proven: its newest passed drill. */
export async function lastProven(store: Store, app: string): Promise<DrillSummary | null> {
  const d = (await store.drills.list({ app, status: 'Passed', limit: 1 }))[0];
  return d ? summary(d) : null;
}

export const drillRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, deps) => {
  const { drills, controller, store } = deps;
  const load = async (req: FastifyRequest, id: string) => {
    const d = await store.drills.get(id);
    if (!d) throw new RewindError('DRILL_NOT_FOUND', `no drill ${id}; list them with rewind drills`, { id });
    requireApp(req, d.app);
    return d;
  };

  app.post(
    '/api/v1/apps/:app/drills',
    {
      schema: {
        summary:
          "Start a rollback drill: deploy the version with the app's strategy, roll it back on purpose once the deploy completed, verify the restored revision, switch each kill-switch flag off and on. No incident; 202 with the drill, which runs in the server (follow GET /drills/{id})",
        params: appParams,
        body: drillBody,
        response: { 202: drill, ...errors },
      },
    },
    async (req, reply) => {
      const body = req.body;
      controller.context(req.params.app);
      if (body.version !== STABLE_VERSION) checkVersion(body.version);
      const started = await drills.start(req.params.app, { version: body.version, by: actorOf(req) });
      // The audit entry says what the call was: a drill, with its id.
      noteAudit(req, { reason: `rollback drill ${started.id} of ${started.version}` });
      return reply.status(202).send(started);
    },
  );
  app.get(
    '/api/v1/drills',
    {
      schema: {
        summary: 'Rollback drills, newest first: status and rollback times',
        querystring: appListQuery,
        response: { 200: z.array(drillSummary), ...errors },
      },
    },
    async (req) => {
      const appName = req.query.app || req.principal?.app || undefined;
      if (appName) {
        controller.context(appName);
        requireApp(req, appName);
      }
      const list = await store.drills.list({ app: appName, limit: req.query.limit ?? 50 });
      return list.map(summary);
    },
  );
  app.get(
    '/api/v1/drills/:id',
    {
      schema: {
        summary:
          "One drill with its report (JSON), or the report with the runbook's checklist as Markdown (format=md)",
        params: idParams,
        querystring: z.object({ format: formatQuery }),
        response: {
          200: {
            description: 'The drill',
            content: { 'application/json': { schema: drill }, 'text/markdown': { schema: z.string() } },
          },
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const d = await load(req, req.params.id);
      if (req.query.format === 'md')
        return reply.type('text/markdown; charset=utf-8').send(renderDrillMarkdown(d.report as DrillReport));
      return d;
    },
  );
};
