// Rollback drills over HTTP: start one (the drill runs in the server; follow it by its id), list
// them, read one report as JSON or Markdown. A drill acts like a deploy and a rollback, so it
// takes the role those take.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { DrillReport } from '../features/drills/drill-report.ts';
import { type DrillService, STABLE_VERSION } from '../features/drills/drill-service.ts';
import { renderDrillMarkdown } from '../features/drills/render-drill-markdown.ts';
import { type Controller, checkVersion } from '../features/rollouts/controller.ts';
import { RewindError } from '../shared/errors.ts';
import type { DrillRecord, Store } from '../store/types.ts';
import { actorOf, noteAudit, requireApp } from './api-guard.ts';

export const drillBody = z.strictObject({
  version: z
    .string()
    .min(1)
    .describe(
      `Version to deploy and roll back: the release about to ship, or "${STABLE_VERSION}" for the stable version onto itself`,
    ),
});

export interface DrillRouteDeps {
  readonly drills: DrillService;
  readonly controller: Controller;
  readonly store: Store;
  readonly parse: <T extends z.ZodType>(schema: T, body: unknown) => z.output<T>;
  readonly intParam: (value: unknown, field: string) => number | undefined;
}

/** The list view: the checklist's numbers without the progress lines. */
function summary(d: DrillRecord) {
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
    failures: r.failures,
  };
}

/** When the app's way back was last proven: its newest passed drill. */
export async function lastProven(store: Store, app: string) {
  const d = (await store.drills.list({ app, status: 'Passed', limit: 1 }))[0];
  return d ? summary(d) : null;
}

export function registerDrillRoutes(app: FastifyInstance, deps: DrillRouteDeps): void {
  const { drills, controller, store, parse, intParam } = deps;
  const load = async (req: FastifyRequest, id: string) => {
    const d = await store.drills.get(id);
    if (!d) throw new RewindError('DRILL_NOT_FOUND', `no drill ${id}; list them with rewind drills`, { id });
    requireApp(req, d.app);
    return d;
  };

  app.post<{ Params: { app: string } }>('/api/v1/apps/:app/drills', async (req, reply) => {
    const body = parse(drillBody, req.body);
    controller.context(req.params.app);
    if (body.version !== STABLE_VERSION) checkVersion(body.version);
    const drill = await drills.start(req.params.app, { version: body.version, by: actorOf(req) });
    // The audit entry says what the call was: a drill, with its id.
    noteAudit(req, { reason: `rollback drill ${drill.id} of ${drill.version}` });
    return reply.status(202).send(drill);
  });
  app.get<{ Querystring: { app?: string; limit?: string } }>('/api/v1/drills', async (req) => {
    const appName = req.query.app || req.principal?.app || undefined;
    if (appName) {
      controller.context(appName);
      requireApp(req, appName);
    }
    const list = await store.drills.list({ app: appName, limit: intParam(req.query.limit, 'limit') ?? 50 });
    return list.map(summary);
  });
  app.get<{ Params: { id: string }; Querystring: { format?: string } }>(
    '/api/v1/drills/:id',
    async (req, reply) => {
      const format = req.query.format ?? 'json';
      if (format !== 'json' && format !== 'md')
        throw new RewindError('VALIDATION_FAILED', `format: "${format}" is not md or json`, {
          field: 'format',
        });
      const d = await load(req, req.params.id);
      if (format === 'md')
        return reply.type('text/markdown; charset=utf-8').send(renderDrillMarkdown(d.report as DrillReport));
      return d;
    },
  );
}
