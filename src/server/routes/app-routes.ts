// Apps and their rollouts: status, deploy, rollback and the commands on a rollout in progress,
// its events, the instances' logs and the data plane's metrics.
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  afterQuery,
  appParams,
  deployBody,
  idParams,
  intParam,
  limitQuery,
  promoteBody,
  reasonBody,
  rollbackBody,
} from '../../api/requests.ts';
import { anObject, appDetail, appStatus, event, logLine, rollout } from '../../api/responses.ts';
import { dangerousEnvKeys } from '../../features/auth/env-policy.ts';
import { RewindError } from '../../shared/errors.ts';
import { actorOf, maySee, noteAudit, requireApp, requireRole } from '../api-guard.ts';
import { appViews } from '../app-views.ts';
import { errors, type RouteDeps } from './route-kit.ts';

export const appRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, deps) => {
  const { controller, store, runtime, rolloutsStarted } = deps;
  const views = appViews(deps);
  const started = (
    req: FastifyRequest<{ Params: { app: string } }>,
    kind: string,
    r: { toRevision: number },
  ) => {
    noteAudit(req, { revision: r.toRevision });
    rolloutsStarted.inc({ app: req.params.app, kind });
  };

  app.get(
    '/api/v1/apps',
    {
      schema: {
        summary: 'Apps with their stable revision and active rollout',
        response: { 200: z.array(appStatus), ...errors },
      },
    },
    async (req) =>
      Promise.all(
        controller
          .appNames()
          .filter((name) => maySee(req, name))
          .map(views.status),
      ),
  );
  app.get(
    '/api/v1/apps/:app',
    { schema: { summary: 'Status of one app', params: appParams, response: { 200: appDetail, ...errors } } },
    async (req) => views.detail(req.params.app),
  );
  app.get(
    '/api/v1/apps/:app/rollouts',
    {
      schema: {
        summary: 'Rollouts, newest first',
        params: appParams,
        querystring: limitQuery,
        response: { 200: z.array(rollout), ...errors },
      },
    },
    async (req) => {
      controller.context(req.params.app);
      return store.rollouts.list(req.params.app, req.query.limit ?? 20);
    },
  );
  app.post(
    '/api/v1/apps/:app/deploy',
    {
      schema: {
        summary: "Create a revision and roll it out with the app's strategy",
        params: appParams,
        body: deployBody,
        response: { 202: rollout, ...errors },
      },
    },
    async (req, reply) => {
      const body = req.body;
      const allowEnv = controller.context(req.params.app).spec.run.allowEnv;
      const dangerous = dangerousEnvKeys(body.env ?? {}, allowEnv);
      if (dangerous.length > 0) {
        requireRole(
          req,
          'admin',
          `env ${dangerous.join(', ')} changes how the app loads code (list it in run.allowEnv in rewind.yaml to let deployers set it)`,
        );
        noteAudit(req, { error: `admin override of env ${dangerous.join(', ')}` });
      }
      const r = await controller.deploy(req.params.app, { ...body, actor: actorOf(req) });
      started(req, 'deploy', r);
      return reply.status(202).send(r);
    },
  );
  app.post(
    '/api/v1/apps/:app/rollback',
    {
      schema: {
        summary: 'Put the previous (or the named) revision back',
        params: appParams,
        body: rollbackBody,
        response: { 202: rollout, ...errors },
      },
    },
    async (req, reply) => {
      const r = await controller.rollback(req.params.app, { ...req.body, actor: actorOf(req) });
      started(req, 'rollback', r);
      return reply.status(202).send(r);
    },
  );
  app.post(
    '/api/v1/apps/:app/promote',
    {
      schema: {
        summary: 'End the current pause of the rollout, or with full: skip to 100% and the bake',
        params: appParams,
        body: promoteBody,
        response: { 200: rollout, ...errors },
      },
    },
    async (req) => controller.promote(req.params.app, req.body.full ?? false),
  );
  app.post(
    '/api/v1/apps/:app/abort',
    {
      schema: {
        summary: 'Abort the rollout: traffic back on the stable revision, new processes stopped',
        params: appParams,
        body: reasonBody,
        response: { 200: rollout, ...errors },
      },
    },
    async (req) => controller.abort(req.params.app, req.body.reason, actorOf(req)),
  );
  app.post(
    '/api/v1/apps/:app/pause',
    {
      schema: {
        summary: 'Pause the rollout where it is',
        params: appParams,
        body: reasonBody,
        response: { 200: rollout, ...errors },
      },
    },
    async (req) => controller.pause(req.params.app, req.body.reason),
  );
  app.post(
    '/api/v1/apps/:app/resume',
    {
      schema: {
        summary: 'Resume a paused rollout',
        params: appParams,
        body: reasonBody,
        response: { 200: rollout, ...errors },
      },
    },
    async (req) => controller.resume(req.params.app),
  );
  app.get(
    '/api/v1/apps/:app/logs',
    {
      schema: {
        summary: 'Last lines printed by the app instances',
        params: appParams,
        querystring: z.object({ revision: intParam(), tail: intParam() }),
        response: { 200: z.array(logLine), ...errors },
      },
    },
    async (req) => {
      controller.context(req.params.app);
      const revision = req.query.revision;
      let unit = revision;
      if (revision !== undefined) {
        const rev = await store.revisions.get(req.params.app, revision);
        if (!rev)
          throw new RewindError('REVISION_NOT_FOUND', `app ${req.params.app} has no revision ${revision}`, {
            revision,
          });
        unit = (rev.spec as { unit?: number | null }).unit ?? rev.number;
      }
      return runtime.logs(req.params.app, { revision: unit, tail: req.query.tail ?? 100 });
    },
  );
  app.get(
    '/api/v1/apps/:app/metrics',
    {
      schema: {
        summary: 'Per-revision one-second buckets from the data plane',
        params: appParams,
        querystring: z.object({ since: intParam() }),
        response: {
          200: z.array(anObject('One second: requests, errors and latency per revision')),
          ...errors,
        },
      },
    },
    async (req) => {
      controller.context(req.params.app);
      return deps.metrics(req.params.app, req.query.since ?? Math.floor(Date.now() / 1000) - 60);
    },
  );
  app.get(
    '/api/v1/apps/:app/events',
    {
      schema: {
        summary: "The app's events, oldest first",
        params: appParams,
        querystring: afterQuery,
        response: { 200: z.array(event), ...errors },
      },
    },
    async (req) => {
      controller.context(req.params.app);
      return store.events.list({ app: req.params.app, afterId: req.query.after ?? 0, limit: 200 });
    },
  );
  app.get(
    '/api/v1/rollouts/:id',
    { schema: { summary: 'One rollout', params: idParams, response: { 200: rollout, ...errors } } },
    async (req) => {
      const r = await store.rollouts.get(req.params.id);
      if (!r)
        throw new RewindError('ROLLOUT_NOT_FOUND', `no rollout ${req.params.id}`, { id: req.params.id });
      requireApp(req, r.app);
      return r;
    },
  );
  app.get(
    '/api/v1/rollouts/:id/events',
    {
      schema: {
        summary: 'Events of a rollout, oldest first',
        params: idParams,
        querystring: afterQuery,
        response: { 200: z.array(event), ...errors },
      },
    },
    async (req) => {
      const r = await store.rollouts.get(req.params.id);
      if (r) requireApp(req, r.app);
      else if (req.principal?.app)
        throw new RewindError('ROLLOUT_NOT_FOUND', `no rollout ${req.params.id}`, { id: req.params.id });
      return store.events.list({ rolloutId: req.params.id, afterId: req.query.after ?? 0 });
    },
  );
};
