// The API's front door, in front of every route: the Host must be ours (no DNS rebinding), no
// foreign Origin (no cross-site requests), mutations carry JSON (no HTML-form or bodyless
// cross-site POSTs), a bearer token, or the dashboard's session cookie, with the role the route
// needs (route-policy.ts), and every mutating request, allowed or refused, goes into the audit
// trail.
import { networkInterfaces } from 'node:os';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditService } from '../features/auth/audit-service.ts';
import type { DashboardSessions } from '../features/auth/dashboard-sessions.ts';
import type { OfrepTokens } from '../features/auth/ofrep-tokens.ts';
import { type Role, roleAtLeast } from '../features/auth/roles.ts';
import type { Principal, TokenCheck, TokenService } from '../features/auth/token-service.ts';
import { RewindError } from '../shared/errors.ts';
import type { Leadership } from '../store/pg-leader-election.ts';
import { openApiPath, policyOf, type RoutePolicy } from './route-policy.ts';

export interface GuardOptions {
  readonly tokens: TokenService;
  readonly audit: AuditService;
  readonly ofrep: OfrepTokens;
  /** The address the API listens on: Host headers naming it (or a loopback twin) are ours. */
  readonly listen: { readonly host: string; readonly port: number };
  /** More names the API answers to (host or host:port), e.g. behind a reverse proxy. */
  readonly allowedHosts?: readonly string[];
  /** Origins (scheme://host[:port]) whose pages may call the API. None by default. */
  readonly allowedOrigins?: readonly string[];
  /** The dashboard's sessions: without them the session cookie is ignored. */
  readonly sessions?: DashboardSessions;
  /** Whether the API is served over TLS: the scheme of its own pages' Origin. */
  readonly tls?: boolean;
  /** false turns every check off: only for the benchmark that measures their cost. */
  readonly enabled?: boolean;
  /** Several controllers on one store: a follower refuses the routes marked `leader`. */
  readonly leadership?: Leadership;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who made the request (from its token); null on public routes. */
    principal: Principal | null;
    /** What the audit entry records beyond the request itself. */
    auditNote: { revision?: number; reason?: string; error?: string } | null;
  }
  interface FastifyContextConfig {
    policy?: RoutePolicy;
  }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function stripPort(host: string): { name: string; port: string | null } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host.toLowerCase());
  return m ? { name: m[1]!, port: m[2] ?? null } : { name: host.toLowerCase(), port: null };
}

/** The Host values the API answers to. */
export function hostMatcher(
  options: Pick<GuardOptions, 'listen' | 'allowedHosts'>,
): (host: string) => boolean {
  const port = String(options.listen.port);
  const listenHost = options.listen.host.toLowerCase();
  const names = new Set<string>();
  const add = (h: string) => names.add(h.includes(':') && !h.startsWith('[') ? `[${h}]` : h);
  const loopback = LOOPBACK.has(listenHost) || listenHost.startsWith('127.');
  if (loopback) for (const h of LOOPBACK) add(h);
  add(listenHost);
  if (listenHost === '0.0.0.0' || listenHost === '::') {
    for (const h of LOOPBACK) add(h);
    for (const list of Object.values(networkInterfaces()))
      for (const a of list ?? []) add(a.address.toLowerCase());
  }
  const extra = (options.allowedHosts ?? []).map((h) => stripPort(h));
  const decide = (host: string) => {
    const h = stripPort(host);
    if (h.port === port && names.has(h.name)) return true;
    return extra.some((e) => e.name === h.name && (e.port === null || e.port === h.port));
  };
  // A server sees a handful of distinct Host values: decide each once.
  const seen = new Map<string, boolean>();
  return (host) => {
    let ok = seen.get(host);
    if (ok === undefined) {
      ok = decide(host);
      if (seen.size < 1000) seen.set(host, ok);
    }
    return ok;
  };
}

/** The cookie that holds a dashboard session (HttpOnly, SameSite=Strict; see dashboard-routes.ts). */
export const SESSION_COOKIE = 'rewind_session';

/** The dashboard session named by a Cookie header, or null. */
export function sessionOf(cookie: string | undefined): string | null {
  if (!cookie) return null;
  const m = /(?:^|;\s*)rewind_session=([A-Za-z0-9_-]{20,100})(?:;|$)/.exec(cookie);
  return m ? m[1]! : null;
}

/** The bearer token of an Authorization header, or null. */
export function bearerOf(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}

/**
 * The front door's refusals, one wording wherever a request is refused: here, and on the OFREP
 * worker's own listener (ofrep-worker.ts), which admits requests by the same rules off this thread.
 */
export const refuse = {
  notLeader: (leadership: Leadership) => {
    const leader = leadership.leader();
    return new RewindError(
      'NOT_LEADER',
      leader
        ? `this controller (${leadership.id}) follows; the leader is ${leader.id} at ${leader.url}: send the request there (REWIND_URL=${leader.url} or --url ${leader.url})`
        : `this controller (${leadership.id}) follows and no leader is known yet (one is being elected); try again in a few seconds`,
      { leader: leader ? { id: leader.id, url: leader.url } : null },
    );
  },
  host: (host: string) =>
    new RewindError(
      'HOST_NOT_ALLOWED',
      `Host "${host}" is not this server's address; call it by its listen address or add the name to server.allowedHosts in rewind.yaml`,
      { field: 'Host', host },
    ),
  origin: (origin: string) =>
    new RewindError(
      'ORIGIN_NOT_ALLOWED',
      `Origin "${origin}" may not call this API; add it to server.allowedOrigins in rewind.yaml if its pages should`,
      { field: 'Origin', origin },
    ),
  mediaType: (type: string) =>
    new RewindError(
      'UNSUPPORTED_MEDIA_TYPE',
      `content-type: "${type}" is not application/json; send the body as JSON ({} when there is nothing to say)`,
      { field: 'content-type' },
    ),
  noToken: () =>
    new RewindError(
      'UNAUTHENTICATED',
      'no token: send Authorization: Bearer <token> (the CLI reads $REWIND_TOKEN, else <data dir>/admin.token); in a browser, sign in with the link `rewind dashboard` prints',
      { field: 'Authorization' },
    ),
  crossSite: () =>
    new RewindError(
      'FORBIDDEN',
      "a change made with the dashboard's session must come from the dashboard's own page (Origin of this server); scripts send Authorization: Bearer <token>",
      { field: 'Origin' },
    ),
  badToken: (problem: string) =>
    new RewindError('UNAUTHENTICATED', `${problem}; send a valid token (rewind tokens list)`, {
      field: 'Authorization',
    }),
  otherApp: (p: Principal, app: string) =>
    new RewindError(
      'FORBIDDEN',
      `token ${p.name} is scoped to app ${p.app} and may not act on app ${app}; use a token for ${app} or one without --app`,
      { token: p.name, app },
    ),
};

/** Whether a mutating request's content-type is JSON. */
export const isJsonType = (type: string): boolean => /^application\/json\s*(;|$)/i.test(type);

const appParam = (req: FastifyRequest) => (req.params as { app?: string } | undefined)?.app;

/** Throws 403 unless the request's token may act on `app` (tokens scoped to another app may not). */
export function requireApp(req: FastifyRequest, app: string): void {
  const p = req.principal;
  if (p?.app && p.app !== app) throw refuse.otherApp(p, app);
}

/** Throws 403 unless the request's token has `role` (for what a request body asks beyond its route's role). */
export function requireRole(req: FastifyRequest, role: Role, why: string): void {
  const p = req.principal;
  if (p && !roleAtLeast(p.role, role))
    throw new RewindError(
      'FORBIDDEN',
      `${why}: needs role ${role}, token ${p.name} has ${p.role}; ask an admin, or create a token with rewind tokens create NAME --role ${role}`,
      { needed: role, role: p.role, token: p.name },
    );
}

/** Whether the request's token may see `app` (for filtering lists). */
export function maySee(req: FastifyRequest, app: string): boolean {
  return !req.principal?.app || req.principal.app === app;
}

/** Who the revision, flag version or incident names as its author: the token's name. */
export function actorOf(req: FastifyRequest): string {
  return req.principal?.name ?? 'api';
}

export function noteAudit(
  req: FastifyRequest,
  note: { revision?: number; reason?: string; error?: string },
): void {
  req.auditNote = { ...req.auditNote, ...note };
}

export function installGuard(app: FastifyInstance, options: GuardOptions): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('auditNote', null);
  const enabled = options.enabled !== false;
  const hostAllowed = hostMatcher(options);
  const origins = new Set((options.allowedOrigins ?? []).map((o) => o.replace(/\/$/, '').toLowerCase()));
  const scheme = options.tls ? 'https' : 'http';
  /** Our own pages (the dashboard) send the Origin of the Host they were loaded from. */
  const sameOrigin = (origin: string, host: string) =>
    origin.toLowerCase() === `${scheme}://${host.toLowerCase()}`;
  const sessions = options.sessions;
  const leadership = options.leadership;

  /** The checks of one route, with its policy bound: no lookup per request. */
  const guardFor = (policy: RoutePolicy, method: string, url: string) => {
    const mutating = !SAFE_METHODS.has(method);
    const what = `${method} ${openApiPath(url)}`;
    const needed: Role = policy.role === 'ofrep' || policy.role === 'public' ? 'viewer' : policy.role;
    const authorize = (req: FastifyRequest, check: TokenCheck): void => {
      if (!check.ok) throw refuse.badToken(check.problem);
      const p = check.principal;
      req.principal = p;
      if (!roleAtLeast(p.role, needed)) requireRole(req, needed, what);
      const app = appParam(req);
      if (policy.scope === 'app' && app) requireApp(req, app);
      if (policy.scope === 'global' && p.app)
        throw new RewindError(
          'FORBIDDEN',
          `token ${p.name} is scoped to app ${p.app}; ${what} needs a token without --app`,
          { token: p.name },
        );
      if (policy.leader && leadership && !leadership.isLeader()) throw refuse.notLeader(leadership);
    };
    /** Throws a refusal, or returns the pending token lookup when the token is not cached. */
    const admit = (req: FastifyRequest): Promise<void> | undefined => {
      // /healthz and /readyz answer whatever the Host: they tell nothing secret, and health
      // checkers address servers by whatever name or address they know them by.
      if (policy.role === 'public') return undefined;
      const host = req.headers.host ?? '';
      if (!hostAllowed(host)) throw refuse.host(host);
      const origin = req.headers.origin;
      if (origin !== undefined && !origins.has(origin.toLowerCase()) && !sameOrigin(origin, host))
        throw refuse.origin(origin);
      if (mutating) {
        const type = req.headers['content-type'] ?? '';
        if (!isJsonType(type)) throw refuse.mediaType(type);
      }
      const token = bearerOf(req.headers.authorization);
      const app = appParam(req);
      if (policy.role === 'ofrep' && token && app && options.ofrep.matches(app, token)) {
        req.principal = { name: `ofrep:${app}`, role: 'viewer', app };
        return undefined;
      }
      if (!token) {
        const session = sessions && sessionOf(req.headers.cookie);
        if (!session) throw refuse.noToken();
        // SameSite=Strict keeps the cookie off other sites' requests; a change also names our page.
        if (mutating && (origin === undefined || !sameOrigin(origin, host))) throw refuse.crossSite();
        const check = sessions.check(session);
        if (!('then' in check)) {
          authorize(req, check);
          return undefined;
        }
        return check.then((c) => authorize(req, c));
      }
      const cached = options.tokens.checkCached(token);
      if (cached) {
        authorize(req, cached);
        return undefined;
      }
      return options.tokens.check(token).then((check) => authorize(req, check));
    };
    // Callback style, not async: on the common path (a cached token) no promise is made.
    return (req: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void => {
      let pending: Promise<void> | undefined;
      try {
        pending = admit(req);
      } catch (err) {
        done(err as Error);
        return;
      }
      if (pending) pending.then(() => done(), done);
      else done();
    };
  };

  /** Appends the audit entry of a mutating request, allowed or refused. */
  const auditFor = (url: string) => async (req: FastifyRequest, reply: FastifyReply) => {
    const status = reply.statusCode;
    const refused = status === 401 || status === 403 || status === 415 || status === 421;
    const bodyReason = (req.body as { reason?: unknown } | undefined)?.reason;
    const note = req.auditNote;
    const reason =
      note?.reason ??
      (typeof bodyReason === 'string' ? bodyReason : null) ??
      (note?.error ? `${status < 400 ? '' : 'error: '}${note.error}` : null);
    void options.audit.record({
      at: Date.now(),
      actor: req.principal?.name ?? null,
      role: req.principal?.role ?? null,
      remote: req.ip,
      method: req.method,
      route: url,
      app: appParam(req) ?? null,
      revision: note?.revision ?? null,
      outcome: status < 400 ? 'allowed' : refused ? 'refused' : 'failed',
      status,
      reason,
    });
  };

  const asList = <T>(hooks: T | T[] | undefined): T[] =>
    hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks];

  // Every route declares who may call it; a route without a policy is a bug caught at start.
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const method = methods[0] === 'HEAD' ? 'GET' : methods[0]!;
    const policy = policyOf(method, route.url);
    if (!policy)
      throw new Error(
        `route ${method} ${route.url} has no entry in ROUTE_POLICIES (src/server/route-policy.ts)`,
      );
    route.config = { ...(route.config as object), policy };
    if (!enabled) return;
    route.onRequest = [guardFor(policy, method, route.url), ...asList(route.onRequest)];
    if (!SAFE_METHODS.has(method) && policy.role !== 'ofrep' && policy.role !== 'public')
      route.onResponse = [...asList(route.onResponse), auditFor(route.url)];
  });
}
