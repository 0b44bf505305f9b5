// Revisions, config and secrets: the history, what changed between two revisions, a revision's
// config (secrets by name only), a config change rolled out like any deploy, and a new secrets key.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { appParams, configBody, intParam, limitQuery, rotateKeyBody } from '../../api/requests.ts';
import { anObject, configView, revisionDiff, revisionEntry, rollout } from '../../api/responses.ts';
import {
  diffRevisionSpecs,
  parseRevisionSpec,
  publicRevisionSpec,
} from '../../features/revisions/revision-spec.ts';
import { diffBase, revisionOutcome } from '../../features/rollouts/revision-outcome.ts';
import { RewindError } from '../../shared/errors.ts';
import { actorOf, noteAudit, requireRole } from '../api-guard.ts';
import { errors, type RouteDeps } from './route-kit.ts';

export const revisionRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, deps) => {
  const { controller, store } = deps;
  const noRevision = (name: string) =>
    new RewindError('NO_EARLIER_REVISION', `app ${name} has no revision yet; deploy one first`, {});
  const revisionSpecOf = async (appName: string, number: number, field: string) => {
    const rev = await store.revisions.get(appName, number);
    if (!rev)
      throw new RewindError('REVISION_NOT_FOUND', `${field}: app ${appName} has no revision ${number}`, {
        field,
        revision: number,
      });
    return parseRevisionSpec(rev.spec);
  };
  // One rollout per revision (a rollback makes a copy), so twice the revisions read covers the
  // rollouts that carried them and those that rolled back from them.
  const rolloutsOf = (name: string, revisions: number) => store.rollouts.list(name, 2 * revisions + 10);
  const stableOf = async (name: string) => (await store.apps.get(name))?.stableRevision ?? null;

  app.get(
    '/api/v1/apps/:app/revisions',
    {
      schema: {
        summary: 'Revision history, newest first, with what became of each revision',
        params: appParams,
        querystring: limitQuery,
        response: { 200: z.array(revisionEntry), ...errors },
      },
    },
    async (req) => {
      const name = req.params.app;
      controller.context(name);
      const limit = req.query.limit ?? 50;
      const [list, rollouts, stable] = await Promise.all([
        store.revisions.list(name, limit),
        rolloutsOf(name, limit),
        stableOf(name),
      ]);
      return list.map((r) => ({
        ...r,
        spec: publicRevisionSpec(r.spec),
        outcome: revisionOutcome(r.number, stable, rollouts),
      }));
    },
  );
  app.get(
    '/api/v1/apps/:app/revisions/diff',
    {
      schema: {
        summary:
          'What changed between two revisions (secrets by name only); by default the stable one and the one that served before it',
        params: appParams,
        querystring: z.object({ from: intParam(), to: intParam() }),
        response: { 200: revisionDiff, ...errors },
      },
    },
    async (req) => {
      const name = req.params.app;
      controller.context(name);
      const stable = await stableOf(name);
      const to = req.query.to ?? stable;
      if (to === null) throw noRevision(name);
      const rollouts = await rolloutsOf(name, 50);
      const { from, basis } = diffBase(to, rollouts, req.query.from);
      const [a, b] = await Promise.all([revisionSpecOf(name, from, 'from'), revisionSpecOf(name, to, 'to')]);
      const between = basis === 'servedBefore' ? range(from + 1, to) : [];
      const skipped = between.map((n) => ({ revision: n, outcome: revisionOutcome(n, stable, rollouts) }));
      return { app: name, from, to, basis, skipped, changes: diffRevisionSpecs(a, b) };
    },
  );
  app.get(
    '/api/v1/apps/:app/config',
    {
      schema: {
        summary: "A revision's config, and its secrets by name (default: the stable revision)",
        params: appParams,
        querystring: z.object({ revision: intParam() }),
        response: { 200: configView, ...errors },
      },
    },
    async (req) => {
      const name = req.params.app;
      controller.context(name);
      const number = req.query.revision ?? (await store.apps.get(name))?.stableRevision;
      if (number == null) throw noRevision(name);
      const spec = await revisionSpecOf(name, number, 'revision');
      return { app: name, revision: number, config: spec.config, secrets: Object.keys(spec.secrets).sort() };
    },
  );
  app.post(
    '/api/v1/apps/:app/config',
    {
      schema: {
        summary: 'Set or unset config and secrets: a new revision, rolled out like any other',
        params: appParams,
        body: configBody,
        response: { 202: rollout, ...errors },
      },
    },
    async (req, reply) => {
      const body = req.body;
      if (Object.keys(body.secrets ?? {}).length > 0) requireRole(req, 'admin', 'setting secrets');
      const r = await controller.changeConfig(req.params.app, { ...body, actor: actorOf(req) });
      noteAudit(req, { revision: r.toRevision });
      deps.rolloutsStarted.inc({ app: req.params.app, kind: 'deploy' });
      return reply.status(202).send(r);
    },
  );
  app.post(
    '/api/v1/secrets/rotate-key',
    {
      schema: {
        summary:
          'Re-seal every stored secret under a new key, in one transaction, without restarting instances; restart the server with the new key afterwards',
        body: rotateKeyBody,
        response: { 200: anObject('How many secrets were re-sealed'), ...errors },
      },
    },
    async (req) => {
      if (!deps.rotateSecretsKey)
        throw new RewindError('INVALID_STATE', 'this server cannot rotate its secrets key', {});
      return deps.rotateSecretsKey(req.body.newKey);
    },
  );
};

/** lo, lo + 1, ... hi - 1 (empty when hi <= lo). */
const range = (lo: number, hi: number) => Array.from({ length: Math.max(0, hi - lo) }, (_, i) => lo + i);
