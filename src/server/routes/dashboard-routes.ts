// The dashboard: its pages and files at /, signing in with a link (/signin?code=... sets the
// session cookie), the session itself, the live stream (Server-Sent Events) and the per-second
// series its charts start from.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { appParams, intParam } from '../../api/requests.ts';
import { SESSION_MS } from '../../features/auth/dashboard-sessions.ts';
import { hashToken } from '../../features/auth/token-service.ts';
import { RewindError } from '../../shared/errors.ts';
import { bearerOf, maySee, SESSION_COOKIE, sessionOf } from '../api-guard.ts';
import type { LiveFeed } from '../live-feed.ts';
import type { StaticSite } from '../static-site.ts';
import { errors, type RouteDeps } from './route-kit.ts';

export interface DashboardRouteDeps extends RouteDeps {
  readonly feed: LiveFeed;
  readonly site: StaticSite;
}

/** Heartbeat comments keep proxies from closing an idle stream; each also re-checks the session. */
const HEARTBEAT_MS = 15_000;
/** A page that has not read this much of its stream is dropped (it reconnects and starts afresh). */
const MAX_BUFFERED = 4 * 1024 * 1024;

// The pages load nothing from elsewhere and run no inline script; no site may frame them.
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
} as const;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A page for what a browser opens directly (/signin): the outcome in words, a way forward. */
function plainPage(title: string, text: string): string {
  return `<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(title)}</title><body style="font:16px system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem"><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>`;
}

const sessionSchema = z.object({
  name: z.string(),
  role: z.enum(['viewer', 'deployer', 'admin']),
  app: z.string().nullable(),
  via: z.enum(['session', 'token']),
  expiresAt: z.number().int().nullable().describe('unix ms; null for a token without expiry'),
});

const seriesPoint = z.object({
  second: z.number().int(),
  revisions: z
    .array(
      z.object({
        revision: z.number().int(),
        requests: z.number().int(),
        errors: z.number().int(),
        p50: z.number().nullable(),
        p99: z.number().nullable(),
      }),
    )
    .readonly(),
});

export const dashboardRoutes: FastifyPluginAsyncZod<DashboardRouteDeps> = async (app, deps) => {
  const { security, feed, site } = deps;
  const sessions = security.sessions;
  const secure = security.tls ? '; Secure' : '';
  const cookie = (value: string, maxAgeS: number) =>
    `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${secure}`;

  app.get(
    '/signin',
    { schema: { hide: true, querystring: z.object({ code: z.string().max(200).optional() }) } },
    async (req, reply) => {
      reply.headers({ ...PAGE_HEADERS, 'cache-control': 'no-store' });
      const code = req.query.code ?? '';
      const redeemed = sessions && code ? await sessions.redeem(code) : undefined;
      const audit = (outcome: 'allowed' | 'refused', actor: string | null, reason: string | null) =>
        void security.audit.record({
          at: Date.now(),
          actor,
          role: null,
          remote: req.ip,
          method: 'GET',
          route: '/signin',
          app: null,
          revision: null,
          outcome,
          status: outcome === 'allowed' ? 303 : 401,
          reason,
        });
      if (!redeemed?.ok) {
        const problem = redeemed?.problem ?? 'the link has no sign-in code';
        audit('refused', null, problem);
        return reply
          .code(401)
          .type('text/html; charset=utf-8')
          .send(
            plainPage(
              'Sign-in link not valid',
              `${problem}. Run rewind dashboard on a machine with a token for this server and open the link it prints.`,
            ),
          );
      }
      const who = await sessions!.check(redeemed.session);
      audit('allowed', who.ok ? who.principal.name : null, 'dashboard sign-in');
      return reply
        .header('set-cookie', cookie(redeemed.session, Math.floor(SESSION_MS / 1000)))
        .redirect('/', 303);
    },
  );

  app.get(
    '/api/v1/session',
    {
      schema: {
        summary: 'Who the caller is: the dashboard session or the token, its role and app scope',
        response: { 200: sessionSchema, ...errors },
      },
    },
    async (req) => {
      const p = req.principal!;
      const session = bearerOf(req.headers.authorization) ? null : sessionOf(req.headers.cookie);
      return {
        name: p.name,
        role: p.role,
        app: p.app,
        via: session ? ('session' as const) : ('token' as const),
        expiresAt: session ? (sessions?.expiresAt(session) ?? null) : null,
      };
    },
  );

  app.post(
    '/api/v1/session/signout',
    {
      schema: {
        summary: "End the dashboard session and clear its cookie (a token's caller has none)",
        body: z.strictObject({}),
        response: { 204: z.null().describe('Signed out'), ...errors },
      },
    },
    async (req, reply) => {
      const session = sessionOf(req.headers.cookie);
      if (session) sessions?.end(session);
      return reply.header('set-cookie', cookie('', 0)).code(204).send(null);
    },
  );

  app.post(
    '/api/v1/session/links',
    {
      schema: {
        summary:
          "A sign-in link for the dashboard with the caller token's rights (rewind dashboard); works once, for 15 minutes",
        body: z.strictObject({}),
        response: {
          200: z.object({ path: z.string(), expiresAt: z.number().int() }),
          ...errors,
        },
      },
    },
    async (req) => {
      const token = bearerOf(req.headers.authorization);
      // A session minting links would outlive itself: only a token's holder may.
      if (!token || !sessions)
        throw new RewindError(
          'FORBIDDEN',
          'a sign-in link is made with a token (Authorization: Bearer), not from a dashboard session; run rewind dashboard',
          { field: 'Authorization' },
        );
      const { code, expiresAt } = sessions.issueCode(hashToken(token));
      return { path: `/signin?code=${code}`, expiresAt };
    },
  );

  app.get(
    '/api/v1/apps/:app/series',
    {
      schema: {
        summary:
          'Per-second requests, 5xx and p50/p99 per revision (the last hour while a dashboard watched, else the data plane’s last 2 minutes)',
        params: appParams,
        querystring: z.object({ since: intParam() }),
        response: { 200: z.array(seriesPoint), ...errors },
      },
    },
    async (req) => {
      deps.controller.context(req.params.app);
      return feed.series(req.params.app, req.query.since ?? Math.floor(Date.now() / 1000) - 120);
    },
  );

  app.get(
    '/api/v1/stream',
    {
      schema: {
        summary:
          'Server-Sent Events for the dashboard: `apps` (every app detail the caller may see, on connect and on each change), `event` (each event appended), `metrics` (the last complete second per revision, each second)',
        produces: ['text/event-stream'],
      },
    },
    async (req, reply) => stream(req, reply),
  );

  const stream = async (req: FastifyRequest, reply: FastifyReply) => {
    const raw = reply.raw;
    reply.hijack();
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    raw.write('retry: 2000\n\n');
    let open = true;
    const client = {
      maySee: (name: string) => maySee(req, name),
      send: (event: string, data: unknown) => {
        if (!open) return false;
        if (raw.writableLength > MAX_BUFFERED) {
          close();
          return false;
        }
        raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        return true;
      },
    };
    const unsubscribe = await feed.subscribe(client);
    // A revoked token or an ended session stops its stream at the next heartbeat.
    const stillValid = async () => {
      const token = bearerOf(req.headers.authorization);
      if (token) return (await security.tokens.check(token)).ok;
      const session = sessionOf(req.headers.cookie);
      return Boolean(session && sessions && (await sessions.check(session)).ok);
    };
    const heartbeat = setInterval(() => {
      void stillValid().then((ok) => {
        if (!ok) close();
        else if (open) raw.write(': heartbeat\n\n');
      });
    }, HEARTBEAT_MS);
    heartbeat.unref();
    function close() {
      if (!open) return;
      open = false;
      clearInterval(heartbeat);
      unsubscribe();
      raw.end();
    }
    raw.on('close', close);
  };

  // The dashboard's files and pages. Public: they hold no data; the data comes from the API.
  const serve = async (req: FastifyRequest, reply: FastifyReply) => {
    const path = decodeURIComponent(req.url.split('?')[0] ?? '/');
    if (path.startsWith('/api/') || path.includes('..') || path.includes('\0'))
      return reply.code(404).send({
        error: { code: 'ROUTE_NOT_FOUND', message: `no route GET ${req.url}; see /api/v1/openapi.json` },
      });
    if (site.missing)
      return reply
        .code(503)
        .headers(PAGE_HEADERS)
        .type('text/html; charset=utf-8')
        .send(plainPage('Dashboard not built', site.missing));
    const asset = site.find(path);
    if (!asset)
      return reply.code(404).type('text/plain; charset=utf-8').send(`no file ${path} in the dashboard`);
    reply.headers({
      ...PAGE_HEADERS,
      'content-type': asset.type,
      etag: asset.etag,
      vary: 'accept-encoding',
      'cache-control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
    if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    const gzip = asset.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    if (gzip) reply.header('content-encoding', 'gzip');
    return reply.send(gzip ? asset.gzip : asset.body);
  };
  app.get('/', { schema: { hide: true } }, serve);
  app.get('/*', { schema: { hide: true } }, serve);
};
