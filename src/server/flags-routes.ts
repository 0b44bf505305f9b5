// Flag routes: the flag sets of an app (versions, changes, rollback, the kill switch) under
// /api/v1/apps/:app/flags, and OFREP under /api/v1/apps/:app/ofrep/v1/..., so that an OpenFeature
// OFREP provider with baseUrl http://rewind/api/v1/apps/<app> evaluates the app's flags unchanged.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { FlagService } from '../features/flags/flag-service.ts';
import { warningsOf } from '../features/flags/flag-set.ts';
import { pullKillSwitch } from '../features/flags/kill-switch.ts';
import { ofrepEvaluateBulk, ofrepEvaluateSingle } from '../features/flags/ofrep.ts';
import { ofrepErrorReply } from '../features/flags/ofrep-answers.ts';
import type { IncidentService } from '../features/incidents/incident-service.ts';
import type { Controller } from '../features/rollouts/controller.ts';
import { RewindError } from '../shared/errors.ts';
import type { Store } from '../store/types.ts';

export const flagChangeBody = z.strictObject({
  reason: z.string().max(500).optional(),
});
export const flagSetBody = flagChangeBody.extend({
  document: z.unknown().describe("The whole flag set in flagd's format: { flags: { key: {...} } }"),
});
export const flagBody = flagChangeBody.extend({
  definition: z.unknown().describe('One flag: { state, variants, defaultVariant, targeting? }'),
});
export const flagRollbackBody = flagChangeBody.extend({
  toVersion: z.number().int().positive().describe('Flag-set version to copy back into force'),
});

export interface FlagRouteDeps {
  readonly flags: FlagService;
  readonly incidents: IncidentService;
  readonly store: Store;
  readonly controller: Controller;
  readonly parse: <T extends z.ZodType>(schema: T, body: unknown) => z.output<T>;
  readonly intParam: (value: unknown, field: string) => number | undefined;
  /** Who the request's token names: recorded as the author of a flag-set version. */
  readonly actorOf: (req: FastifyRequest) => string;
}

type AppReq = FastifyRequest<{ Params: { app: string; key?: string; version?: string } }>;

export function registerFlagRoutes(app: FastifyInstance, deps: FlagRouteDeps): void {
  const { flags, controller, parse } = deps;
  const summary = (
    version: number,
    result: { changes: readonly unknown[]; warnings: readonly unknown[] },
  ) => ({
    version,
    changes: result.changes,
    warnings: result.warnings,
  });

  app.get('/api/v1/apps/:app/flags', async (req: AppReq) => {
    controller.context(req.params.app);
    const now = await flags.current(req.params.app);
    return { version: now.version, flags: now.set.flags, document: now.set, warnings: warningsOf(now.set) };
  });
  app.get('/api/v1/apps/:app/flags/history', async (req: AppReq) => {
    controller.context(req.params.app);
    return flags.history(
      req.params.app,
      deps.intParam((req.query as { limit?: string }).limit, 'limit') ?? 50,
    );
  });
  app.get('/api/v1/apps/:app/flags/versions/:version', async (req: AppReq) => {
    controller.context(req.params.app);
    return flags.version(req.params.app, deps.intParam(req.params.version, 'version') ?? 0);
  });
  app.put('/api/v1/apps/:app/flags', async (req: AppReq) => {
    controller.context(req.params.app);
    const body = parse(flagSetBody, req.body);
    const r = await flags.replace(req.params.app, body.document, {
      author: deps.actorOf(req),
      reason: body.reason,
    });
    return summary(r.record.version, r);
  });
  app.post('/api/v1/apps/:app/flags/rollback', async (req: AppReq) => {
    controller.context(req.params.app);
    const body = parse(flagRollbackBody, req.body);
    const r = await flags.rollback(req.params.app, body.toVersion, {
      author: deps.actorOf(req),
      reason: body.reason ?? `rollback to flag-set version ${body.toVersion}`,
    });
    return summary(r.record.version, r);
  });
  app.get('/api/v1/apps/:app/flags/:key', async (req: AppReq) => {
    controller.context(req.params.app);
    return flags.flag(req.params.app, req.params.key ?? '');
  });
  app.put('/api/v1/apps/:app/flags/:key', async (req: AppReq) => {
    controller.context(req.params.app);
    const body = parse(flagBody, req.body);
    const r = await flags.setFlag(req.params.app, req.params.key ?? '', body.definition, {
      author: deps.actorOf(req),
      reason: body.reason,
    });
    return summary(r.record.version, r);
  });
  app.post('/api/v1/apps/:app/flags/:key/enable', async (req: AppReq) => {
    controller.context(req.params.app);
    const body = parse(flagChangeBody, req.body);
    const r = await flags.setState(req.params.app, req.params.key ?? '', 'ENABLED', {
      author: deps.actorOf(req),
      reason: body.reason,
    });
    return summary(r.record.version, r);
  });
  app.post('/api/v1/apps/:app/flags/:key/disable', async (req: AppReq) => {
    controller.context(req.params.app);
    const body = parse(flagChangeBody, req.body);
    const reason = body.reason ?? `flag ${req.params.key} disabled by hand`;
    const incident = await pullKillSwitch(deps, {
      app: req.params.app,
      flag: req.params.key ?? '',
      reason,
      by: 'user',
      author: deps.actorOf(req),
    });
    const now = await flags.current(req.params.app);
    return {
      version: now.version,
      incident: { id: incident.id, status: incident.status, severity: incident.severity },
    };
  });

  // OFREP in its own scope: clients read the protocol's error bodies, not Rewind's, for every
  // error here, down to an unknown app. The body reaches the OFREP functions as raw text, parsed
  // there once, so that malformed JSON is answered in OFREP's shape too.
  app.register(async (ofrep) => {
    ofrep.removeAllContentTypeParsers();
    ofrep.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    ofrep.setErrorHandler((err, req: AppReq, reply) => {
      const status =
        err instanceof RewindError ? err.status : ((err as { statusCode?: number }).statusCode ?? 500);
      // A single-flag error without `key` is a malformed response to the OFREP provider, which
      // would then hide the message (an unknown app: a mistyped baseUrl).
      const r = ofrepErrorReply(status, (err as Error).message, req.params.key);
      return reply.status(r.status).type('application/json; charset=utf-8').send(r.body);
    });
    ofrep.post('/api/v1/apps/:app/ofrep/v1/evaluate/flags/:key', async (req: AppReq, reply) => {
      controller.context(req.params.app);
      const now = await flags.current(req.params.app);
      const r = ofrepEvaluateSingle(now.evaluator, req.params.key ?? '', req.body);
      return reply.status(r.status).send(r.body);
    });
    ofrep.post('/api/v1/apps/:app/ofrep/v1/evaluate/flags', async (req: AppReq, reply) => {
      controller.context(req.params.app);
      const now = await flags.current(req.params.app);
      const r = ofrepEvaluateBulk(now.evaluator, now.version, req.body, req.headers['if-none-match']);
      if ('etag' in r) reply.header('etag', r.etag);
      if (r.status === 304) return reply.status(304).send();
      return reply.status(r.status).send(r.body);
    });
  });
}
