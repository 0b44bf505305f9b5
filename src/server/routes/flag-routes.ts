// Flag routes: the flag sets of an app (versions, changes, rollback, the kill switch) under
// /api/v1/apps/:app/flags, and OFREP under /api/v1/apps/:app/ofrep/v1/..., so that an OpenFeature
// OFREP provider with baseUrl http://rewind/api/v1/apps/<app> evaluates the app's flags unchanged.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  appParams,
  flagBody,
  flagChangeBody,
  flagParams,
  flagRollbackBody,
  flagSetBody,
  intParam,
  limitQuery,
  ofrepBody,
} from '../../api/requests.ts';
import { anObject, flagChange } from '../../api/responses.ts';
import { warningsOf } from '../../features/flags/flag-set.ts';
import { pullKillSwitch } from '../../features/flags/kill-switch.ts';
import { ofrepEvaluateBulk, ofrepEvaluateSingle } from '../../features/flags/ofrep.ts';
import { ofrepErrorReply } from '../../features/flags/ofrep-answers.ts';
import { RewindError } from '../../shared/errors.ts';
import { actorOf } from '../api-guard.ts';
import { errors, type RouteDeps } from './route-kit.ts';

const OFREP_PORT_NOTE =
  "Also served, on the same path with the same admission and answers, on the OFREP port (rewind server --ofrep-port, default the API port + 1) by a worker thread off the controller's event loop; instances get that address as REWIND_OFREP_URL.";
const changed = { 200: flagChange, ...errors };
const anyObject = { 200: anObject(), ...errors };

export const flagRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, deps) => {
  const { flags, controller } = deps;
  const summary = (
    version: number,
    result: { changes: readonly unknown[]; warnings: readonly unknown[] },
  ) => ({
    version,
    changes: [...result.changes],
    warnings: [...result.warnings],
  });

  app.get(
    '/api/v1/apps/:app/flags',
    {
      schema: {
        summary: 'The flag set in force (flagd format) and its version',
        params: appParams,
        response: anyObject,
      },
    },
    async (req) => {
      controller.context(req.params.app);
      const now = await flags.current(req.params.app);
      return { version: now.version, flags: now.set.flags, document: now.set, warnings: warningsOf(now.set) };
    },
  );
  app.get(
    '/api/v1/apps/:app/flags/history',
    {
      schema: {
        summary: 'Flag-set versions, newest first: author, reason, diff',
        params: appParams,
        querystring: limitQuery,
        response: { 200: z.array(anObject()), ...errors },
      },
    },
    async (req) => {
      controller.context(req.params.app);
      return flags.history(req.params.app, req.query.limit ?? 50);
    },
  );
  app.get(
    '/api/v1/apps/:app/flags/versions/:version',
    {
      schema: {
        summary: 'One flag-set version',
        params: appParams.extend({ version: intParam() }),
        response: anyObject,
      },
    },
    async (req) => {
      controller.context(req.params.app);
      return flags.version(req.params.app, req.params.version ?? 0);
    },
  );
  app.put(
    '/api/v1/apps/:app/flags',
    {
      schema: {
        summary: 'Replace the whole flag set: a new version',
        params: appParams,
        body: flagSetBody,
        response: changed,
      },
    },
    async (req) => {
      controller.context(req.params.app);
      const r = await flags.replace(req.params.app, req.body.document, {
        author: actorOf(req),
        reason: req.body.reason,
      });
      return summary(r.record.version, r);
    },
  );
  app.post(
    '/api/v1/apps/:app/flags/rollback',
    {
      schema: {
        summary: 'A new version that copies an earlier one',
        params: appParams,
        body: flagRollbackBody,
        response: changed,
      },
    },
    async (req) => {
      controller.context(req.params.app);
      const body = req.body;
      const r = await flags.rollback(req.params.app, body.toVersion, {
        author: actorOf(req),
        reason: body.reason ?? `rollback to flag-set version ${body.toVersion}`,
      });
      return summary(r.record.version, r);
    },
  );
  app.get(
    '/api/v1/apps/:app/flags/:key',
    { schema: { summary: "One flag's definition", params: flagParams, response: anyObject } },
    async (req) => {
      controller.context(req.params.app);
      return flags.flag(req.params.app, req.params.key);
    },
  );
  app.put(
    '/api/v1/apps/:app/flags/:key',
    {
      schema: {
        summary: 'Add or replace one flag: a new version',
        params: flagParams,
        body: flagBody,
        response: changed,
      },
    },
    async (req) => {
      controller.context(req.params.app);
      const r = await flags.setFlag(req.params.app, req.params.key, req.body.definition, {
        author: actorOf(req),
        reason: req.body.reason,
      });
      return summary(r.record.version, r);
    },
  );
  app.post(
    '/api/v1/apps/:app/flags/:key/enable',
    {
      schema: {
        summary: 'Enable a flag: a new version',
        params: flagParams,
        body: flagChangeBody,
        response: changed,
      },
    },
    async (req) => {
      controller.context(req.params.app);
      const r = await flags.setState(req.params.app, req.params.key, 'ENABLED', {
        author: actorOf(req),
        reason: req.body.reason,
      });
      return summary(r.record.version, r);
    },
  );
  app.post(
    '/api/v1/apps/:app/flags/:key/disable',
    {
      schema: {
        summary: 'Kill switch: disable a flag (a new version) and open an incident; the release stays',
        params: flagParams,
        body: flagChangeBody,
        response: {
          200: z.object({
            version: z.number().int(),
            incident: z.object({ id: z.string(), status: z.string(), severity: z.string() }),
          }),
          ...errors,
        },
      },
    },
    async (req) => {
      controller.context(req.params.app);
      const reason = req.body.reason ?? `flag ${req.params.key} disabled by hand`;
      // By hand: no breach marks when the feature began to fail, so no metrics are read.
      const { incidents, store } = deps;
      const incident = await pullKillSwitch(
        { flags, incidents, store },
        {
          app: req.params.app,
          flag: req.params.key,
          reason,
          by: 'user',
          author: actorOf(req),
        },
      );
      const now = await flags.current(req.params.app);
      return {
        version: now.version,
        incident: { id: incident.id, status: incident.status, severity: incident.severity },
      };
    },
  );

  // OFREP in its own scope: clients read the protocol's error bodies, not Rewind's, for every
  // error here, down to an unknown app. The body reaches the OFREP functions as raw text, parsed
  // there once, so that malformed JSON is answered in OFREP's shape too: its schema documents the
  // request and is not checked here.
  app.register(async (ofrep) => {
    ofrep.removeAllContentTypeParsers();
    ofrep.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    ofrep.setValidatorCompiler(() => (data) => ({ value: data }));
    ofrep.setErrorHandler((err, req, reply) => {
      const status =
        err instanceof RewindError ? err.status : ((err as { statusCode?: number }).statusCode ?? 500);
      // A single-flag error without `key` is a malformed response to the OFREP provider, which
      // would then hide the message (an unknown app: a mistyped baseUrl).
      const r = ofrepErrorReply(status, (err as Error).message, (req.params as { key?: string }).key);
      return reply.status(r.status).type('application/json; charset=utf-8').send(r.body);
    });
    const ofrepError = (code: z.ZodType) =>
      z.object({ key: z.unknown(), errorCode: code, errorDetails: z.string() }).partial();
    ofrep.post(
      '/api/v1/apps/:app/ofrep/v1/evaluate/flags/:key',
      {
        schema: {
          summary: 'OFREP single-flag evaluation (OpenFeature Remote Evaluation Protocol v1)',
          description: OFREP_PORT_NOTE,
          body: ofrepBody,
          response: {
            200: anObject(),
            400: ofrepError(z.string()),
            404: ofrepError(z.literal('FLAG_NOT_FOUND')),
          },
        },
      },
      async (req, reply) => {
        const params = req.params as { app: string; key: string };
        controller.context(params.app);
        const now = await flags.current(params.app);
        const r = ofrepEvaluateSingle(now.evaluator, params.key, req.body);
        return reply.status(r.status).send(r.body as never);
      },
    );
    ofrep.post(
      '/api/v1/apps/:app/ofrep/v1/evaluate/flags',
      {
        schema: {
          summary:
            'OFREP bulk evaluation; ETag / If-None-Match (304) follow the flag-set version and the context',
          description: OFREP_PORT_NOTE,
          headers: z.object({ 'if-none-match': z.string().optional() }),
          body: ofrepBody,
          response: { 200: anObject(), 304: z.null().describe('Not modified'), 400: ofrepError(z.string()) },
        },
      },
      async (req, reply) => {
        const app = (req.params as { app: string }).app;
        controller.context(app);
        const now = await flags.current(app);
        const r = ofrepEvaluateBulk(now.evaluator, now.version, req.body, req.headers['if-none-match']);
        if ('etag' in r) reply.header('etag', r.etag);
        if (r.status === 304) return reply.status(304).send();
        return reply.status(r.status).send(r.body as never);
      },
    );
  });
};
