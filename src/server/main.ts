// The composition root: config -> store -> each app's providers (the built-in agent, data plane
// and processes, when a built-in provider asks) -> controller -> HTTP API. Nothing else
// constructs services.

import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfigFile } from '../features/apps/load-config.ts';
import { ensureAdminToken } from '../features/auth/admin-token.ts';
import { AuditService } from '../features/auth/audit-service.ts';
import { DashboardSessions } from '../features/auth/dashboard-sessions.ts';
import { OfrepTokens } from '../features/auth/ofrep-tokens.ts';
import { TokenService } from '../features/auth/token-service.ts';
import { DatabaseService } from '../features/database/database-service.ts';
import { DrillService } from '../features/drills/drill-service.ts';
import { FlagService } from '../features/flags/flag-service.ts';
import type { FlagSyncServer } from '../features/flags/flag-sync-server.ts';
import { IncidentService } from '../features/incidents/incident-service.ts';
import { createNotificationHub } from '../features/notifications/notification-hub.ts';
import { rotateSecretsKey } from '../features/revisions/rotate-secrets-key.ts';
import { createSecretBox, SECRETS_KEY_ENV, type SecretBox } from '../features/revisions/secret-box.ts';
import { secretsKeyProblem } from '../features/revisions/secrets-key-check.ts';
import { Controller } from '../features/rollouts/controller.ts';
import { type AgentClient, ensureAgent } from '../providers/builtin/agent/agent-client.ts';
import { AgentWatch } from '../providers/builtin/agent/agent-watch.ts';
import type { RouteTable } from '../providers/builtin/proxy/types.ts';
import { BuiltinTrafficRouter } from '../providers/builtin/traffic-router/builtin-traffic-router.ts';
import type { MetricsSource } from '../providers/metrics-source.ts';
import { type AppProviders, createAppProviders, providerTypes } from '../providers/registry.ts';
import type { Runtime } from '../providers/runtime.ts';
import { createLogger } from '../shared/logger.ts';
import { isLoopbackHost } from '../spec/app-spec.ts';
import { openStore, redactUrl, SQLITE_FILE_NAME } from '../store/open-store.ts';
import { type Leadership, PgLeaderElection, soleLeadership } from '../store/pg-leader-election.ts';
import { buildApp } from './build-app.ts';
import { type DataDirLock, DataDirLocked, lockDataDir } from './data-dir-lock.ts';
import { createHealth } from './health.ts';
import { OfrepHost } from './ofrep-host.ts';

export interface ServerOptions {
  readonly config: string;
  readonly dataDir: string;
  readonly port: number;
  readonly host: string;
  /** On stop, leave the agent and the apps running for a later server to adopt. */
  readonly keepApps: boolean;
  /** Listen on a non-loopback address without TLS (behind a TLS-terminating proxy, say). */
  readonly insecure?: boolean;
  /** The OFREP worker's port (ADR 0004); default: the API port + 1. */
  readonly ofrepPort?: number;
  /**
   * The URL other controllers of the same store send writes to while this one leads (a follower
   * names it in its refusals); default: the API's listen address.
   */
  readonly advertiseUrl?: string;
}

/** The exit code of a leader that can no longer be sure it leads (EX_TEMPFAIL): restart it, it follows. */
export const EXIT_LEADERSHIP_LOST = 75;

/** Whether `host` is reachable only from this machine. */
export const isLoopback = isLoopbackHost;

/** rewind.db and its WAL files: readable by the server's user only. */
function lockDownSqlite(dataDir: string): void {
  for (const suffix of ['', '-wal', '-shm']) {
    const file = join(dataDir, `${SQLITE_FILE_NAME}${suffix}`);
    if (existsSync(file)) chmodSync(file, 0o600);
  }
}

const VERSION = '0.1.0';
/** Where a process on this host reaches a listener bound to every address. */
const LOCAL_OF: Readonly<Record<string, string>> = { '0.0.0.0': '127.0.0.1', '::': '127.0.0.1' };

/** Why host:port cannot be listened on (EADDRINUSE...), or null when it can. */
function portProblem(host: string, port: number): Promise<string | null> {
  return new Promise((resolvePromise) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      resolvePromise(err.code === 'EADDRINUSE' ? 'the port is in use' : (err.code ?? err.message)),
    );
    probe.listen(port, host, () => probe.close(() => resolvePromise(null)));
  });
}

export async function runServer(options: ServerOptions): Promise<void> {
  const log = createLogger();
  const fail = (message: string): never => {
    process.stderr.write(`error: ${message}\n`);
    process.exit(1);
  };
  let loaded: ReturnType<typeof loadConfigFile>;
  try {
    loaded = loadConfigFile(options.config, { providerTypes: providerTypes() });
  } catch (err) {
    return fail((err as Error).message);
  }
  const tls = loaded.config.server.tls;
  const flagSync = loaded.config.server.flagSync;
  if (flagSync && !tls && !isLoopback(flagSync.listen.host) && !options.insecure)
    return fail(
      `server.flagSync.listen ${flagSync.listen.host}:${flagSync.listen.port} in ${loaded.file} is not a loopback address and there is no server.tls, so tokens and flags would cross the network in clear; set server.tls: { cert, key }, listen on 127.0.0.1, or pass --insecure`,
    );
  if (!tls && !isLoopback(options.host) && !options.insecure)
    return fail(
      `the API would listen on ${options.host} without TLS, so tokens would cross the network in clear; set server.tls: { cert, key } in ${loaded.file}, listen on 127.0.0.1, or pass --insecure (behind a TLS-terminating proxy on this host)`,
    );
  let https: { cert: Buffer; key: Buffer } | undefined;
  if (tls) {
    try {
      https = {
        cert: readFileSync(resolve(loaded.baseDir, tls.cert)),
        key: readFileSync(resolve(loaded.baseDir, tls.key)),
      };
    } catch (err) {
      return fail(
        `server.tls in ${loaded.file}: cannot read ${(err as NodeJS.ErrnoException).path ?? 'the files'} (${(err as NodeJS.ErrnoException).code}); give PEM files, relative to the config file`,
      );
    }
  }
  const dataDir = resolve(options.dataDir);
  // The data dir holds the store, the admin token, the agent's socket and the apps' logs.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  // Before anything touches the store or the agent: a second server must not adopt the agent of
  // a live one (and stop the apps under it when it exits).
  let lock: DataDirLock;
  try {
    lock = lockDataDir(dataDir);
  } catch (err) {
    return fail(
      err instanceof DataDirLocked
        ? err.message
        : `cannot lock the data dir ${dataDir}: ${(err as Error).message}`,
    );
  }
  const dbUrl = process.env.REWIND_DATABASE_URL;
  const store = await openStore({ url: dbUrl, dataDir }).catch((err: Error) => fail(err.message));
  if (!dbUrl) lockDownSqlite(dataDir);
  // The built-in agent (processes and proxy), started or adopted when a built-in provider first asks.
  let agentStart: Promise<{ client: AgentClient; adopted: boolean }> | undefined;
  const agentOf = async () => {
    agentStart ??= ensureAgent(dataDir).catch((err: Error) => fail(`cannot start the agent: ${err.message}`));
    return (await agentStart).client;
  };
  const providers = new Map<string, AppProviders>();
  for (const app of loaded.config.apps) {
    const built = await createAppProviders({
      app,
      baseDir: loaded.baseDir,
      dataDir,
      log,
      agent: agentOf,
    }).catch((err: Error) => fail(err.message));
    providers.set(app.name, built);
  }
  const started = agentStart ? await agentStart : null;
  const agent = started?.client ?? null;
  const adopted = started?.adopted ?? false;
  /** On a failed start: an agent this server started goes with it (an adopted one keeps serving). */
  const dropAgent = async () => {
    if (agent && !adopted) await agent.shutdown().catch(() => {});
  };
  const agentInfo = agent
    ? await agent.info().catch((err: Error) => fail(`the agent does not answer: ${err.message}`))
    : null;
  const held = new Set((agent ? await agent.allRoutes().catch(() => []) : []).map((t) => t.app));
  for (const [i, app] of loaded.config.apps.entries()) {
    // Only the built-in proxy listens on the app's address from this host.
    if (held.has(app.name) || !(providers.get(app.name)!.traffic instanceof BuiltinTrafficRouter)) continue;
    const problem = await portProblem(app.listen.host, app.listen.port);
    if (problem) {
      await store.close();
      await dropAgent();
      return fail(
        `app ${app.name}: cannot listen on ${app.listen.host}:${app.listen.port} (${problem}); stop what holds it or change apps.${i}.listen in ${loaded.file}`,
      );
    }
  }
  const providersOf = (app: string) => {
    const p = providers.get(app);
    if (!p) throw new Error(`no app named "${app}"`);
    return p;
  };
  // The API reads instances and logs of any app through one Runtime: each app's own.
  const runtime: Runtime = {
    start: (spec) => providersOf(spec.app).runtime.start(spec),
    stopRevision: (app, revision) => providersOf(app).runtime.stopRevision(app, revision),
    list: async (app) =>
      app === undefined
        ? (await Promise.all([...providers].map(([name, p]) => p.runtime.list(name)))).flat()
        : providersOf(app).runtime.list(app),
    logs: (app, o) => providersOf(app).runtime.logs(app, o),
  };
  /** The API's traffic view: the built-in proxy's table, or what another router can say in the same shape. */
  const routesOf = async (app: string): Promise<RouteTable | undefined> => {
    const traffic = providersOf(app).traffic;
    if (traffic instanceof BuiltinTrafficRouter) return traffic.table(app);
    const now = await traffic.current(app);
    // The API reads the backends' revision, weight and upstream count only.
    return (
      now &&
      ({
        backends: now.revisions.map((r) => ({
          revision: r.revision,
          weight: r.weight,
          upstreams: Array.from({ length: r.instances ?? 0 }, () => ({ host: '', port: 0 })),
        })),
      } as unknown as RouteTable)
    );
  };
  const hub = createNotificationHub(
    loaded.config.notifications.length ? loaded.config.notifications : [{ type: 'console' }],
    {},
    { logger: log },
  );
  const incidents = new IncidentService({
    store,
    onChange: (change, incident, message) =>
      hub.publish({
        type: change,
        app: incident.app,
        message,
        severity: incident.severity,
        incidentId: incident.id,
        rolloutId: incident.rolloutId,
      }),
  });
  const metrics = (app: string, since: number) => (agent ? agent.metrics(app, since) : Promise.resolve([]));
  // The analysis reads each app's traffic from the app's own metrics source (`metrics:`).
  const metricsSource: MetricsSource = {
    read: (app, since) =>
      providers.get(app)?.metrics.read(app, since) ??
      Promise.resolve({ phase: 'Error', error: `app ${app} has no metrics source`, samples: [] }),
  };
  const tokens = new TokenService({ store });
  const ofrepTokens = OfrepTokens.forDataDir(dataDir);
  const ofrepPort = options.ofrepPort ?? options.port + 1;
  if (ofrepPort === options.port && ofrepPort !== 0) {
    await store.close();
    await dropAgent();
    return fail(
      `--ofrep-port ${ofrepPort} is the API port; OFREP's worker needs a port of its own (default: the API port + 1)`,
    );
  }
  // OFREP off this thread: a worker owns its listener and answers from the sets pushed to it.
  const ofrep = new OfrepHost({
    host: options.host,
    port: ofrepPort,
    ...(https && { https }),
    flagTokenKey: ofrepTokens.key(),
    allowedHosts: loaded.config.server.allowedHosts,
    allowedOrigins: loaded.config.server.allowedOrigins,
    checkToken: (token) => tokens.check(token),
    log,
  });
  const flags = new FlagService({
    store,
    onInForce: (app, now) => ofrep.publish(app, now.version, now.set),
    onChange: (app, r) =>
      hub.publish({
        type: 'flags.changed',
        app,
        message: `${app}: flag set version ${r.record.version} by ${r.record.author}: ${r.changes.map((c) => `${c.change} ${c.flag}`).join(', ') || 'no change'}${r.record.reason ? ` (${r.record.reason})` : ''}`,
      }),
  });
  // Versions written by other controllers on the same PostgreSQL store come into force here too.
  const unfollowFlags = flags.follow(
    (err, app) =>
      log.warn({ err, app }, 'cannot load the flag set another controller wrote; next change retries'),
    (reason) =>
      log.warn(
        { reason },
        "lost the PostgreSQL LISTEN connection: other controllers' flag changes reach this one again once it reconnects (retried with backoff; everything is reloaded then)",
      ),
  );
  // Started now and awaited before the API listens: a thread loads its modules afresh, seconds on
  // a loaded box, which then overlap with the rest of the start.
  const ofrepStarted = (async () => {
    const sets = [];
    for (const app of loaded.config.apps) {
      const now = await flags.current(app.name);
      sets.push({ app: app.name, version: now.version, document: now.set });
    }
    await ofrep.start(sets);
  })();
  ofrepStarted.catch(() => {}); // handled where it is awaited
  let secrets: SecretBox;
  try {
    secrets = createSecretBox(process.env[SECRETS_KEY_ENV] || undefined);
  } catch (err) {
    await store.close();
    await dropAgent();
    return fail((err as Error).message);
  }
  const keyProblem = await secretsKeyProblem(
    store,
    loaded.config.apps.map((a) => a.name),
    secrets,
  );
  if (keyProblem) {
    await store.close();
    await dropAgent();
    return fail(keyProblem);
  }
  const audit = new AuditService({ store, log });
  const adminToken = await ensureAdminToken(dataDir, tokens);
  const sessions = new DashboardSessions({ tokens });
  const localHost = LOCAL_OF[options.host] ?? options.host;
  const hostPart = localHost.includes(':') ? `[${localHost}]` : localHost;
  // The port the worker listens on: the one asked for, or the free one it got for --ofrep-port 0.
  const ofrepBase = () => `${https ? 'https' : 'http'}://${hostPart}:${ofrep.port()}/api/v1`;
  // Two servers on one host sharing an app database (or a store) are told apart by their API port.
  const controllerId = `${hostname()}:${options.port}`;
  const database = new DatabaseService({ controllerId });
  const apiUrl = `${https ? 'https' : 'http'}://${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
  // Several servers on one PostgreSQL store: one leads (runs the reconcile loop and takes the
  // routes that act), the others serve reads and name the leader. Alone on SQLite: always leader.
  let lead: () => void = () => {};
  const election = dbUrl
    ? new PgLeaderElection({
        url: dbUrl,
        id: controllerId,
        apiUrl: options.advertiseUrl ?? apiUrl,
        onElected: () => lead(),
        onLost: (why) => {
          // Another controller may lead from now on: stop acting at once; the supervisor restarts us as a follower.
          log.error({ why }, 'no longer sure to lead; exiting so that only one controller acts');
          process.exit(EXIT_LEADERSHIP_LOST);
        },
        onError: (err) => log.warn({ err: err.message }, 'leader election: cannot reach the store; retrying'),
      })
    : null;
  const leadership: Leadership = election ?? soleLeadership(controllerId, options.advertiseUrl ?? apiUrl);
  const controller = new Controller({
    database,
    flags,
    secrets,
    ofrepUrl: (app) => `${ofrepBase()}/apps/${encodeURIComponent(app)}`,
    ofrepToken: (app) => ofrepTokens.tokenFor(app),
    ...(flagSync && {
      flagdSync: {
        host: LOCAL_OF[flagSync.listen.host] ?? flagSync.listen.host,
        port: flagSync.listen.port,
        tls: https !== undefined,
      },
    }),
    store,
    log,
    metrics: metricsSource,
    incidents,
    notify: (n) => hub.publish(n),
  });
  for (const app of loaded.config.apps) await controller.register(app, loaded.baseDir, providersOf(app.name));
  const drills = new DrillService({
    store,
    controller,
    flags,
    log,
    notify: (n) => hub.publish(n),
    audit: (entry) => void audit.record(entry),
  });
  // Drills this data dir was running when its server stopped cannot go on: they fail, saying so.
  await drills.recover();
  // A dead agent is started again at once; the controller then puts every app back on it.
  const agentWatch =
    agent &&
    agentInfo &&
    new AgentWatch({
      dataDir,
      client: agent,
      info: agentInfo,
      log,
      onLost: () => controller.dataPlaneLost(),
      onRestarted: async () => {
        // A follower's agent runs nothing of the apps: there is nothing to put back.
        if (!leadership.isLeader()) return;
        await controller.dataPlaneRestarted();
        const pending = controller.appsWithoutRoutes();
        if (pending.length === 0) log.info({ apps: controller.appNames() }, 'routes restored');
        else log.warn({ apps: pending }, 'routes not restored yet; the reconcile loop retries');
      },
    });

  const api = buildApp({
    controller,
    flags,
    database,
    store,
    runtime,
    metrics,
    incidents,
    drills,
    routes: routesOf,
    version: VERSION,
    health: createHealth({
      pingStore: () => store.apps.list(),
      ...(agentWatch && { agent: () => agentWatch.status() }),
      appsWithoutRoutes: () => controller.appsWithoutRoutes(),
      ofrep: () => ofrep.health(),
      ...(election && { role: () => (election.isLeader() ? ('leader' as const) : ('follower' as const)) }),
    }),
    security: {
      tokens,
      audit,
      ofrep: ofrepTokens,
      sessions,
      tls: https !== undefined,
      listen: { host: options.host, port: options.port },
      leadership,
      allowedHosts: loaded.config.server.allowedHosts,
      allowedOrigins: loaded.config.server.allowedOrigins,
    },
    rotateSecretsKey: (newKey) =>
      rotateSecretsKey(
        store,
        loaded.config.apps.map((a) => a.name),
        secrets,
        newKey,
      ),
    onError: (err) => log.warn({ err }, 'dashboard live feed failed'),
    ...(https && { https }),
  });
  try {
    await ofrepStarted;
  } catch (err) {
    await store.close();
    await dropAgent();
    return fail((err as Error).message);
  }
  try {
    await api.listen({ port: options.port, host: options.host });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    await ofrep.stop();
    await store.close();
    await dropAgent();
    return fail(
      code === 'EADDRINUSE'
        ? `the API port ${options.host}:${options.port} is in use; stop what holds it or pass --port N`
        : `cannot listen on ${options.host}:${options.port}: ${(err as Error).message}`,
    );
  }
  let sync: FlagSyncServer | null = null;
  if (flagSync) {
    // gRPC costs a few hundred ms of start-up to load: only servers that serve it pay.
    const { bearerAuthorizer, createFlagSyncServer } = await import('../features/flags/flag-sync-server.ts');
    sync = createFlagSyncServer({
      flags,
      apps: () => controller.appNames(),
      authorize:
        flagSync.auth === 'none'
          ? async () => null
          : bearerAuthorizer({
              ofrepMatches: (app, token) => ofrepTokens.matches(app, token),
              check: (token) => tokens.check(token),
            }),
    });
    try {
      await sync.listen(flagSync.listen.host, flagSync.listen.port, https);
    } catch (err) {
      await api.close();
      await store.close();
      await dropAgent();
      return fail(
        `server.flagSync.listen ${flagSync.listen.host}:${flagSync.listen.port} in ${loaded.file}: cannot listen (${(err as Error).message}); stop what holds the port or change server.flagSync.listen`,
      );
    }
  }
  // From here on a signal stops everything this server started, even while the apps come up (a
  // resumed rollout may complete, and be seen through the API, before the loop below returns).
  let stopping = false;
  let drillSchedule: NodeJS.Timeout | undefined;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    // First: the agent's shutdown below must not look like a death to restart from.
    await agentWatch?.stop();
    clearInterval(drillSchedule);
    await controller.stop();
    // Given up now, not when the process ends: a follower leads within half a second.
    await election?.stop();
    await sync?.close();
    await api.close();
    unfollowFlags();
    await ofrep.stop();
    await audit.flush();
    await hub.flush(2000);
    hub.close();
    if (!options.keepApps)
      await agent?.shutdown().catch((err: Error) => log.warn({ err }, 'agent shutdown failed'));
    await store.close();
    lock.release();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  agentWatch?.start();
  /** The leader's work: the apps' listeners, the reconcile loop (resuming what was in progress), drills. */
  const leadNow = async () => {
    // Another controller may have led before: what its runtime ran may not run here.
    if (election) controller.tookOver();
    // Put each app's listener up before saying we are ready, so a port in use is reported now.
    for (const app of loaded.config.apps) {
      if (stopping) return;
      try {
        await controller.kick(app.name);
        await providersOf(app.name).traffic.current(app.name);
      } catch (err) {
        log.error({ err, app: app.name }, 'app listener failed');
      }
    }
    if (stopping) return;
    controller.start();
    // drills.every: looked at once a minute (a drill in progress or a rollout postpones it).
    const scheduleDrills = () =>
      void drills
        .scheduleTick(controller.appNames())
        .catch((err) => log.error({ err }, 'drill schedule failed'));
    drillSchedule = setInterval(scheduleDrills, 60_000);
    scheduleDrills();
  };
  let leading: Promise<void> | null = null;
  lead = () => {
    if (leading || stopping) return;
    if (election) log.info({ controller: controllerId }, 'elected leader: resuming the apps');
    leading = leadNow().catch((err) => log.error({ err }, 'leading failed'));
  };
  if (election) await election.start();
  else lead();
  // A controller that leads from the start says it is ready once its apps are up.
  if (leading) await leading;
  if (stopping) return;

  if (!dbUrl) lockDownSqlite(dataDir);
  const first = loaded.config.apps[0]!;
  const lines = [
    `Rewind ${VERSION} ${adopted ? '(adopted running apps)' : ''}`.trim(),
    `  config   ${loaded.file}`,
    `  state    ${dbUrl ? redactUrl(dbUrl) : `${dataDir}/rewind.db`}`,
    ...(election
      ? [
          election.isLeader()
            ? `  role     leader (controller ${controllerId}; the other servers on this store follow it)`
            : `  role     follower (controller ${controllerId}; leader: ${election.leader()?.id ?? 'being elected'}${election.leader() ? ` at ${election.leader()!.url}` : ''}; it leads when that one stops)`,
        ]
      : []),
    // Only URLs that answer a GET: /api/v1 itself is no page (a user opening it got a 404).
    `  API      ${apiUrl}/healthz  (no token); OpenAPI ${apiUrl}/api/v1/openapi.json (with the token)`,
    `  OFREP    ${apiUrl.replace(/:\d+$/, `:${ofrep.port()}`)}/api/v1/apps/<app>  (an OFREP provider's base URL; own thread; also on the API port)`,
    ...(flagSync
      ? [
          `  flagd    ${flagSync.listen.host}:${flagSync.listen.port} (flagd.sync.v1 for in-process flagd providers; selector: the app's name; auth: ${flagSync.auth})`,
        ]
      : []),
    `  token    ${adminToken.path} (admin token ${adminToken.name}${adminToken.created ? ', new' : ''}; the CLI reads it from there, or from $REWIND_TOKEN)`,
    // A sign-in link is a credential: shown on a terminal, never written into a log or journal.
    process.stdout.isTTY
      ? `  dashboard ${apiUrl}/signin?code=${sessions.issueCode(adminToken.digest).code}  (signs in as ${adminToken.name}; works once, for 15 minutes; rewind dashboard prints a fresh one)`
      : `  dashboard ${apiUrl}/  (sign in with the link rewind dashboard prints)`,
    ...loaded.config.apps.map((a) => `  app      ${a.name}: http://${a.listen.host}:${a.listen.port}`),
    '',
    'Try:',
    // The health path: the one page Rewind knows the app serves (its / may be a 404).
    `  curl http://${first.listen.host}:${first.listen.port}${first.health.path}`,
    `  npx rewind status ${first.name}`,
    `  npx rewind deploy ${first.name} --version v2 --wait`,
    `  npx rewind rollback ${first.name}`,
    `  npx rewind history ${first.name}`,
    apiUrl === 'http://127.0.0.1:7070' ? '' : `(export REWIND_URL=${apiUrl} for the CLI)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
