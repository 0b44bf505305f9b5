// The HTTP API, built apart from listen() so tests can inject requests. Routes map transport to
// the controller and store; coded errors become responses in one handler.
import Fastify, { type FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { z } from 'zod';
import { dangerousEnvKeys } from '../features/auth/env-policy.ts';
import { parseExpiry } from '../features/auth/token-service.ts';
import type { DatabaseService } from '../features/database/database-service.ts';
import type { DrillService } from '../features/drills/drill-service.ts';
import type { FlagService } from '../features/flags/flag-service.ts';
import type { IncidentService } from '../features/incidents/incident-service.ts';
import { renderIncidentMarkdown } from '../features/incidents/render-markdown.ts';
import {
  diffRevisionSpecs,
  parseRevisionSpec,
  publicRevisionSpec,
} from '../features/revisions/revision-spec.ts';
import type { RotationResult } from '../features/revisions/rotate-secrets-key.ts';
import type { Controller } from '../features/rollouts/controller.ts';
import type { MetricsBucket, RouteTable } from '../providers/builtin/proxy/types.ts';
import type { Runtime } from '../providers/runtime.ts';
import { parseDuration } from '../shared/duration.ts';
import { RewindError } from '../shared/errors.ts';
import type { Store } from '../store/types.ts';
import {
  actorOf,
  type GuardOptions,
  installGuard,
  maySee,
  noteAudit,
  requireApp,
  requireRole,
} from './api-guard.ts';
import {
  configBody,
  deployBody,
  promoteBody,
  reasonBody,
  rollbackBody,
  rotateKeyBody,
  tokenBody,
} from './api-schemas.ts';
import { registerDbRoutes } from './db-routes.ts';
import { lastProven, registerDrillRoutes } from './drill-routes.ts';
import { registerFlagRoutes } from './flags-routes.ts';
import { createHealth, type Health } from './health.ts';
import { openApiDocument } from './openapi.ts';

export interface AppServices {
  readonly controller: Controller;
  readonly flags: FlagService;
  readonly database: DatabaseService;
  readonly store: Store;
  readonly runtime: Runtime;
  readonly metrics: (app: string, sinceSecond: number) => Promise<MetricsBucket[]>;
  readonly routes: (app: string) => Promise<RouteTable | undefined>;
  readonly incidents: IncidentService;
  /** Rollback drills (features/drills). */
  readonly drills: DrillService;
  readonly version: string;
  /** Tokens, audit trail, Host/Origin policy (api-guard.ts). */
  readonly security: GuardOptions;
  /** `rewind secrets rotate-key`: re-seal every stored secret under a new key. */
  readonly rotateSecretsKey?: (newKey: string) => Promise<RotationResult>;
  /** /healthz and /readyz (health.ts). Default: the store alone, for an API without a data plane. */
  readonly health?: Health;
  /** TLS: PEM certificate and key (server.tls in rewind.yaml). */
  readonly https?: { readonly cert: Buffer; readonly key: Buffer };
}

/** The largest integer a query parameter may carry (a 4-byte signed integer column). */
const MAX_INT_PARAM = 2_147_483_647;

export function buildApp(services: AppServices): FastifyInstance {
  const { controller, store, runtime } = services;
  const app = (
    services.https ? Fastify({ logger: false, https: services.https }) : Fastify({ logger: false })
  ) as FastifyInstance;
  installGuard(app, services.security);
  const { tokens, audit } = services.security;
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
    if (err instanceof RewindError) {
      return reply
        .status(err.status)
        .send({ error: { code: err.code, message: err.message, details: err.details } });
    }
    const e = err as Error & { statusCode?: number; code?: string };
    if (e.statusCode && e.statusCode < 500) {
      return reply.status(e.statusCode).send({ error: { code: 'VALIDATION_FAILED', message: e.message } });
    }
    return reply.status(500).send({ error: { code: 'INTERNAL', message: e.message } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({
      error: {
        code: 'ROUTE_NOT_FOUND',
        message: `no route ${req.method} ${req.url}; see /api/v1/openapi.json`,
      },
    }),
  );

  const parse = <T extends z.ZodType>(schema: T, body: unknown): z.output<T> => {
    const r = schema.safeParse(body ?? {});
    if (r.success) return r.data;
    const issue = r.error.issues[0]!;
    const field = issue.path.join('.') || 'body';
    const message =
      issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : issue.message;
    throw new RewindError('VALIDATION_FAILED', `${field}: ${message}`, { field });
  };
  const intParam = (value: unknown, field: string): number | undefined => {
    if (value === undefined || value === '') return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > MAX_INT_PARAM)
      throw new RewindError(
        'VALIDATION_FAILED',
        `${field}: "${value}" is not an integer from 0 to ${MAX_INT_PARAM}`,
        { field },
      );
    return n;
  };
  const appStatus = async (name: string) => {
    controller.context(name);
    const record = await store.apps.get(name);
    const active = (await store.rollouts.active(name)) ?? null;
    const stable =
      record?.stableRevision != null ? await store.revisions.get(name, record.stableRevision) : undefined;
    const ctx = controller.context(name);
    return {
      name,
      listen: `${ctx.spec.listen.host}:${ctx.spec.listen.port}`,
      stableRevision: record?.stableRevision ?? null,
      stableVersion: stable?.version ?? null,
      activeRollout: active,
      watch: await controller.watchStatus(name),
      steadyWatch: await controller.steadyWatchStatus(name),
      /** When the app's way back was last proven: its newest passed drill, or null. */
      lastProvenDrill: await lastProven(store, name),
    };
  };

  const health =
    services.health ?? createHealth({ pingStore: () => store.apps.list(), appsWithoutRoutes: () => [] });
  // 503 while degraded or not ready: what load balancers and orchestrators act on.
  app.get('/healthz', async (_req, reply) => {
    const report = await health.health();
    return reply.code(report.status === 'ok' ? 200 : 503).send(report);
  });
  app.get('/readyz', async (_req, reply) => {
    const report = await health.ready();
    return reply.code(report.ready ? 200 : 503).send(report);
  });
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  app.get('/api/v1/openapi.json', async () => openApiDocument(services.version));

  app.get('/api/v1/apps', async (req) =>
    Promise.all(
      controller
        .appNames()
        .filter((name) => maySee(req, name))
        .map(appStatus),
    ),
  );
  app.get<{ Params: { app: string } }>('/api/v1/apps/:app', async (req) => {
    const status = await appStatus(req.params.app);
    const table = await services.routes(req.params.app).catch(() => undefined);
    const traffic = (table?.backends ?? []).map((b) => ({
      revision: b.revision,
      weight: b.weight,
      upstreams: b.upstreams.length,
    }));
    return { ...status, traffic, instances: await controller.instances(req.params.app) };
  });
  app.get<{ Params: { app: string }; Querystring: { limit?: string } }>(
    '/api/v1/apps/:app/revisions',
    async (req) => {
      controller.context(req.params.app);
      const list = await store.revisions.list(req.params.app, intParam(req.query.limit, 'limit') ?? 50);
      return list.map((r) => ({ ...r, spec: publicRevisionSpec(r.spec) }));
    },
  );
  const revisionSpecOf = async (appName: string, number: number, field: string) => {
    const rev = await store.revisions.get(appName, number);
    if (!rev)
      throw new RewindError('REVISION_NOT_FOUND', `${field}: app ${appName} has no revision ${number}`, {
        field,
        revision: number,
      });
    return parseRevisionSpec(rev.spec);
  };
  app.get<{ Params: { app: string }; Querystring: { from?: string; to?: string } }>(
    '/api/v1/apps/:app/revisions/diff',
    async (req) => {
      const name = req.params.app;
      controller.context(name);
      const stable = (await store.apps.get(name))?.stableRevision ?? null;
      const to = intParam(req.query.to, 'to') ?? stable;
      if (to === null)
        throw new RewindError('NO_EARLIER_REVISION', `app ${name} has no revision yet; deploy one first`, {});
      const from = intParam(req.query.from, 'from') ?? to - 1;
      const [a, b] = await Promise.all([revisionSpecOf(name, from, 'from'), revisionSpecOf(name, to, 'to')]);
      return { app: name, from, to, changes: diffRevisionSpecs(a, b) };
    },
  );
  app.get<{ Params: { app: string }; Querystring: { revision?: string } }>(
    '/api/v1/apps/:app/config',
    async (req) => {
      const name = req.params.app;
      controller.context(name);
      const number = intParam(req.query.revision, 'revision') ?? (await store.apps.get(name))?.stableRevision;
      if (number == null)
        throw new RewindError('NO_EARLIER_REVISION', `app ${name} has no revision yet; deploy one first`, {});
      const spec = await revisionSpecOf(name, number, 'revision');
      return { app: name, revision: number, config: spec.config, secrets: Object.keys(spec.secrets).sort() };
    },
  );
  app.post<{ Params: { app: string } }>('/api/v1/apps/:app/config', async (req, reply) => {
    const body = parse(configBody, req.body);
    if (Object.keys(body.secrets ?? {}).length > 0) requireRole(req, 'admin', 'setting secrets');
    const rollout = await controller.changeConfig(req.params.app, { ...body, actor: actorOf(req) });
    noteAudit(req, { revision: rollout.toRevision });
    rolloutsStarted.inc({ app: req.params.app, kind: 'deploy' });
    return reply.status(202).send(rollout);
  });
  app.get<{ Params: { app: string }; Querystring: { limit?: string } }>(
    '/api/v1/apps/:app/rollouts',
    async (req) => {
      controller.context(req.params.app);
      return store.rollouts.list(req.params.app, intParam(req.query.limit, 'limit') ?? 20);
    },
  );
  app.post<{ Params: { app: string } }>('/api/v1/apps/:app/deploy', async (req, reply) => {
    const body = parse(deployBody, req.body);
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
    const rollout = await controller.deploy(req.params.app, { ...body, actor: actorOf(req) });
    noteAudit(req, { revision: rollout.toRevision });
    rolloutsStarted.inc({ app: req.params.app, kind: 'deploy' });
    return reply.status(202).send(rollout);
  });
  app.post<{ Params: { app: string } }>('/api/v1/apps/:app/rollback', async (req, reply) => {
    const body = parse(rollbackBody, req.body);
    const rollout = await controller.rollback(req.params.app, { ...body, actor: actorOf(req) });
    noteAudit(req, { revision: rollout.toRevision });
    rolloutsStarted.inc({ app: req.params.app, kind: 'rollback' });
    return reply.status(202).send(rollout);
  });
  app.post<{ Params: { app: string } }>('/api/v1/apps/:app/promote', async (req) => {
    const body = parse(promoteBody, req.body);
    return controller.promote(req.params.app, body.full ?? false);
  });
  app.post<{ Params: { app: string } }>('/api/v1/apps/:app/abort', async (req) => {
    const body = parse(reasonBody, req.body);
    return controller.abort(req.params.app, body.reason, actorOf(req));
  });
  app.post<{ Params: { app: string } }>('/api/v1/apps/:app/pause', async (req) => {
    const body = parse(reasonBody, req.body);
    return controller.pause(req.params.app, body.reason);
  });
  app.post<{ Params: { app: string } }>('/api/v1/apps/:app/resume', async (req) => {
    parse(reasonBody, req.body);
    return controller.resume(req.params.app);
  });
  app.get<{ Params: { app: string }; Querystring: { revision?: string; tail?: string } }>(
    '/api/v1/apps/:app/logs',
    async (req) => {
      controller.context(req.params.app);
      const revision = intParam(req.query.revision, 'revision');
      let unit = revision;
      if (revision !== undefined) {
        const rev = await store.revisions.get(req.params.app, revision);
        if (!rev)
          throw new RewindError('REVISION_NOT_FOUND', `app ${req.params.app} has no revision ${revision}`, {
            revision,
          });
        unit = (rev.spec as { unit?: number | null }).unit ?? rev.number;
      }
      return runtime.logs(req.params.app, { revision: unit, tail: intParam(req.query.tail, 'tail') ?? 100 });
    },
  );
  app.get<{ Params: { app: string }; Querystring: { since?: string } }>(
    '/api/v1/apps/:app/metrics',
    async (req) => {
      controller.context(req.params.app);
      return services.metrics(
        req.params.app,
        intParam(req.query.since, 'since') ?? Math.floor(Date.now() / 1000) - 60,
      );
    },
  );
  app.get<{ Params: { id: string } }>('/api/v1/rollouts/:id', async (req) => {
    const r = await store.rollouts.get(req.params.id);
    if (!r) throw new RewindError('ROLLOUT_NOT_FOUND', `no rollout ${req.params.id}`, { id: req.params.id });
    requireApp(req, r.app);
    return r;
  });
  app.get<{ Params: { id: string }; Querystring: { after?: string } }>(
    '/api/v1/rollouts/:id/events',
    async (req) => {
      const r = await store.rollouts.get(req.params.id);
      if (r) requireApp(req, r.app);
      else if (req.principal?.app)
        throw new RewindError('ROLLOUT_NOT_FOUND', `no rollout ${req.params.id}`, { id: req.params.id });
      return store.events.list({
        rolloutId: req.params.id,
        afterId: intParam(req.query.after, 'after') ?? 0,
      });
    },
  );
  app.get<{ Params: { app: string }; Querystring: { after?: string } }>(
    '/api/v1/apps/:app/events',
    async (req) => {
      controller.context(req.params.app);
      return store.events.list({
        app: req.params.app,
        afterId: intParam(req.query.after, 'after') ?? 0,
        limit: 200,
      });
    },
  );
  app.get<{ Querystring: { app?: string; limit?: string } }>('/api/v1/incidents', async (req) => {
    const appName = req.query.app || req.principal?.app || undefined;
    if (appName) {
      controller.context(appName);
      requireApp(req, appName);
    }
    return services.incidents.list({ app: appName, limit: intParam(req.query.limit, 'limit') ?? 50 });
  });
  app.get<{ Params: { id: string }; Querystring: { format?: string } }>(
    '/api/v1/incidents/:id',
    async (req, reply) => {
      const format = req.query.format ?? 'json';
      if (format !== 'json' && format !== 'md') {
        throw new RewindError('VALIDATION_FAILED', `format: "${format}" is not md or json`, {
          field: 'format',
        });
      }
      const incident = await services.incidents.get(req.params.id);
      if (!incident)
        throw new RewindError(
          'INCIDENT_NOT_FOUND',
          `no incident ${req.params.id}; list them with rewind incidents`,
          { id: req.params.id },
        );
      requireApp(req, incident.app);
      if (format === 'md')
        return reply.type('text/markdown; charset=utf-8').send(renderIncidentMarkdown(incident));
      return incident;
    },
  );
  app.get<{ Querystring: { app?: string; since?: string; limit?: string; verify?: string } }>(
    '/api/v1/audit',
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
        limit: intParam(req.query.limit, 'limit') ?? 1000,
      });
      const verdict = req.query.verify === 'true' || req.query.verify === '1' ? await audit.verify() : null;
      return { entries, verify: verdict };
    },
  );
  app.post('/api/v1/secrets/rotate-key', async (req) => {
    const body = parse(rotateKeyBody, req.body);
    if (!services.rotateSecretsKey)
      throw new RewindError('INVALID_STATE', 'this server cannot rotate its secrets key', {});
    return services.rotateSecretsKey(body.newKey);
  });
  app.get('/api/v1/tokens', async () => tokens.list());
  app.post('/api/v1/tokens', async (req, reply) => {
    const body = parse(tokenBody, req.body);
    if (body.app) controller.context(body.app);
    const { token, record } = await tokens.create(body);
    const { hash: _hash, ...shown } = record;
    return reply.status(201).send({ ...shown, token });
  });
  app.post<{ Params: { name: string } }>('/api/v1/tokens/:name/revoke', async (req) => {
    parse(reasonBody, req.body);
    await tokens.revoke(req.params.name);
    return { name: req.params.name, revoked: true };
  });
  registerDbRoutes(app, { database: services.database, controller, store, parse });
  registerDrillRoutes(app, { drills: services.drills, controller, store, parse, intParam });
  registerFlagRoutes(app, {
    flags: services.flags,
    incidents: services.incidents,
    store,
    controller,
    parse,
    intParam,
    actorOf,
  });
  return app;
}
