// Who may call the API and what was asked of it: API tokens and the audit trail.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { auditQuery, reasonBody, tokenBody } from '../../api/requests.ts';
import { auditAnswer, token, tokenCreated } from '../../api/responses.ts';
import { parseDuration, parseExpiry } from '../../shared/duration.ts';
import { RewindError } from '../../shared/errors.ts';
import { requireApp } from '../api-guard.ts';
import { errors, type RouteDeps } from './route-kit.ts';

export const securityRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, deps) => {
  const { controller } = deps;
  const { tokens, audit } = deps.security;
  app.get(
    '/api/v1/audit',
    {
      schema: {
        summary: 'The audit trail: every mutating request, allowed or refused; verify=true checks the chain',
        querystring: auditQuery,
        response: { 200: auditAnswer, ...errors },
      },
    },
    async (req) => {
      const appName = req.query.app || req.principal?.app || undefined;
      if (appName) requireApp(req, appName);
      let sinceAt: number | undefined;
      if (req.query.since) {
        const ms = parseExpiry(req.query.since) ?? parseDuration(req.query.since);
        if (ms === undefined)
          throw new RewindError(
            'VALIDATION_FAILED',
            `since: "${req.query.since}" is not a duration; write for example 1h, 30m or 7d`,
            { field: 'since' },
          );
        sinceAt = Date.now() - ms;
      }
      await audit.flush();
      const entries = await audit.list({
        ...(appName && { app: appName }),
        ...(sinceAt !== undefined && { sinceAt }),
        limit: req.query.limit ?? 1000,
      });
      const verdict = req.query.verify === 'true' || req.query.verify === '1' ? await audit.verify() : null;
      return { entries, verify: verdict };
    },
  );
  app.get(
    '/api/v1/tokens',
    {
      schema: {
        summary: 'API tokens (never the tokens themselves)',
        response: { 200: z.array(token), ...errors },
      },
    },
    async () => tokens.list(),
  );
  app.post(
    '/api/v1/tokens',
    {
      schema: {
        summary: 'Create a token; the answer holds it, the only time it is shown',
        body: tokenBody,
        response: { 201: tokenCreated, ...errors },
      },
    },
    async (req, reply) => {
      const body = req.body;
      if (body.app) controller.context(body.app);
      const { token: secret, record } = await tokens.create(body);
      const { hash: _hash, ...shown } = record;
      return reply.status(201).send({ ...shown, token: secret });
    },
  );
  app.post(
    '/api/v1/tokens/:name/revoke',
    {
      schema: {
        summary: 'Revoke a token',
        params: z.object({ name: z.string() }),
        body: reasonBody,
        response: { 200: z.object({ name: z.string(), revoked: z.literal(true) }), ...errors },
      },
    },
    async (req) => {
      await tokens.revoke(req.params.name);
      return { name: req.params.name, revoked: true as const };
    },
  );
};
