// The schema of rewind.yaml. One place for every option, its default and its check.
import { z } from 'zod';
import { cidrSchema } from '../shared/cidr-schema.ts';
import { durationSchema } from '../shared/duration-schema.ts';
import { analysisSpecSchema } from './analysis-spec.ts';
import { type Check, checkSchema, commandCheckSchema, httpCheckSchema } from './check-spec.ts';
import { databaseSpecSchema } from './database-spec.ts';
import { drillSpecSchema } from './drill-spec.ts';
import { hooksSchema } from './hooks-spec.ts';
import { logsSpecSchema } from './logs-spec.ts';
import { maintenanceSpecSchema } from './maintenance.ts';
import { notificationsSchema } from './notification-spec.ts';
import {
  healthSourceType,
  metricsSpecSchema,
  runtimeSpecSchema,
  trafficSpecSchema,
} from './provider-spec.ts';
import {
  DEFAULT_LIMITS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_TIMEOUTS,
  DEFAULT_TRUSTED_SOURCES,
} from './proxy-spec.ts';
import { type CanaryStepSpec, canaryStepsProblem } from './strategy-spec.ts';
import { verifySpecSchema } from './verify-spec.ts';

const duration = (example: string) => durationSchema(example);

/** The post-deploy watch by default: the runbook's 5- and 10-minute triggers fit in it. */
export const DEFAULT_WATCH_MS = 900_000;

const hostPort = z.string().transform((value, ctx) => {
  const m = /^(?:(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port < 1 || port > 65535) {
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" is not HOST:PORT; write for example 127.0.0.1:8080`,
    });
    return z.NEVER;
  }
  return { host: (m[1] ?? '127.0.0.1').replace(/^\[|\]$/g, ''), port };
});

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A head limit in bytes: 256 B .. 1 MB. */
const headBytes = (fallback: number) =>
  z
    .number()
    .int('a whole number of bytes')
    .min(256, 'at least 256 bytes')
    .max(1_048_576, 'at most 1048576 bytes (1 MB)')
    .default(fallback);
const envMap = z
  .record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String))
  .superRefine((env, ctx) => {
    for (const key of Object.keys(env)) {
      if (!envName.test(key))
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `"${key}" is not an environment variable name; use letters, digits and _, not starting with a digit`,
        });
    }
  })
  .default({});

export { checkSchema, commandCheckSchema, httpCheckSchema };

const rolloutCommon = {
  prePromotionChecks: z.array(checkSchema).default([]),
  bake: duration('30s').default(10_000),
  /**
   * After the bake the revision is stable but still watched this long from its first request: the
   * rules and the before/after judgment go on, and a breach rolls it back. 0 turns the watch off.
   */
  watch: durationSchema('15m', { max: 86_400_000, maxReason: 'a day' }).default(DEFAULT_WATCH_MS),
  /** How long the previous revision stays running after a deploy completed (default: the watch). */
  keepPreviousWarm: duration('15m').optional(),
  drainTimeout: duration('30s').default(30_000),
};

const blueGreenSchema = z.strictObject(rolloutCommon);

const proxyTimeout = (example: string, ms: number) =>
  durationSchema(example, { max: 86_400_000, maxReason: 'a day' })
    .refine((v) => v >= 1, {
      message: `a timeout of 0 would fail every request; write for example ${example}`,
    })
    .default(ms);

/** The built-in proxy's behaviour for this app (nginx-like defaults). */
const proxySchema = z.strictObject({
  /** Request head limits: a longer request line is answered 414, a longer field line or head 431. */
  limits: z
    .strictObject({
      requestLine: headBytes(DEFAULT_LIMITS.requestLine),
      headerLine: headBytes(DEFAULT_LIMITS.headerLine),
      head: headBytes(DEFAULT_LIMITS.head),
    })
    .prefault({})
    .superRefine((l, ctx) => {
      if (l.head < l.requestLine || l.head < l.headerLine)
        ctx.addIssue({
          code: 'custom',
          path: ['head'],
          message: `head (${l.head}) must be at least requestLine (${l.requestLine}) and headerLine (${l.headerLine})`,
        });
    }),
  timeouts: z
    .strictObject({
      connect: proxyTimeout('5s', DEFAULT_TIMEOUTS.connect),
      response: proxyTimeout('60s', DEFAULT_TIMEOUTS.response),
      clientHeader: proxyTimeout('60s', DEFAULT_TIMEOUTS.clientHeader),
      idle: proxyTimeout('75s', DEFAULT_TIMEOUTS.idle),
      send: proxyTimeout('60s', DEFAULT_TIMEOUTS.send),
    })
    .prefault({}),
  maxConnections: z
    .number()
    .int('a whole number of connections')
    .min(1, 'at least 1 connection per worker')
    .default(DEFAULT_MAX_CONNECTIONS),
});

const canaryStepSchema = z.union([
  z.strictObject({ setWeight: z.number().int().min(0, 'a weight is 0..100').max(100, 'a weight is 0..100') }),
  z.strictObject({
    pause: z
      .union([duration('30s'), z.strictObject({})])
      .transform((v) => (typeof v === 'number' ? v : null)),
  }),
  z.strictObject({ analysis: z.strictObject({ duration: duration('1m') }).transform((v) => v.duration) }),
]);

const canarySchema = z.strictObject({
  ...rolloutCommon,
  steps: z.array(canaryStepSchema).min(1, 'give at least one step'),
});

export const appSpecSchema = z
  .strictObject({
    name: z
      .string()
      .regex(
        /^[a-z][a-z0-9-]{0,62}$/,
        'an app name is lower-case letters, digits and -, starting with a letter',
      ),
    listen: hostPort,
    /** The version deployed when the app is first seen. */
    initialVersion: z.string().min(1).default('v1'),
    run: z.strictObject({
      command: z.string().min(1, 'give the command that starts one instance; it gets its port in $PORT'),
      cwd: z.string().default('.'),
      env: envMap,
      instances: z.number().int().min(1).max(64).default(1),
      stopTimeout: duration('10s').default(10_000),
      /**
       * Env keys that change how code is loaded (NODE_OPTIONS, LD_*, PATH...) which deployers, not
       * only admins, may set with deploy --env for this app.
       */
      allowEnv: z
        .array(z.string().regex(envName, 'an environment variable name: letters, digits and _'))
        .default([]),
    }),
    /** Where instances run (provider-spec.ts). */
    runtime: runtimeSpecSchema,
    /** What routes traffic to them (provider-spec.ts). */
    traffic: trafficSpecSchema,
    /** What measures their traffic for the analysis (provider-spec.ts). */
    metrics: metricsSpecSchema,
    /** Which lines of the instances' output are errors, for `metric: logErrors` (logs-spec.ts). */
    logs: logsSpecSchema,
    health: z
      .strictObject({
        /** Who judges health (provider-spec.ts); the other keys are the built-in prober's. */
        type: healthSourceType,
        path: z.string().startsWith('/', 'the path starts with /').default('/healthz'),
        interval: duration('1s').default(1000),
        timeout: duration('1s').default(1000),
        healthyThreshold: z.number().int().min(1).default(1),
        unhealthyThreshold: z.number().int().min(1).default(3),
        startTimeout: duration('30s').default(30_000),
      })
      .prefault({}),
    routing: z
      .strictObject({
        stickyHeader: z.string().toLowerCase().optional(),
        stickyCookie: z.string().optional(),
        forceHeader: z.string().toLowerCase().default('x-rewind-revision'),
        /** Clients that may force a revision with forceHeader (the rollout driver's checks come from loopback). */
        trustedSources: z.array(cidrSchema).default([...DEFAULT_TRUSTED_SOURCES]),
        /**
         * An environment variable holding a secret: with it, any client may force with
         * "<revision>:<secret>" (the rollout driver then sends it too).
         */
        forceSecretEnv: z
          .string()
          .regex(envName, 'an environment variable name: letters, digits and _, not starting with a digit')
          .optional(),
      })
      .prefault({}),
    /** The built-in proxy, per app. */
    proxy: proxySchema.prefault({}),
    strategy: z
      .strictObject({ blueGreen: blueGreenSchema.optional(), canary: canarySchema.optional() })
      .default({})
      .superRefine((st, ctx) => {
        if (st.blueGreen && st.canary)
          ctx.addIssue({ code: 'custom', message: 'choose one strategy: blueGreen or canary, not both' });
        const problem = st.canary ? canaryStepsProblem(st.canary.steps) : null;
        if (problem) ctx.addIssue({ code: 'custom', path: ['canary', 'steps'], message: problem });
      }),
    analysis: analysisSpecSchema.prefault({}),
    /** The watch of a revision restored by a rollback (features/rollouts/rollback-watch.ts). */
    verify: verifySpecSchema,
    /** The app's database, whose migrations roll out and back with its revisions. */
    database: databaseSpecSchema.optional(),
    hooks: hooksSchema,
    /** Rollback drills on a schedule (features/drills/drill-spec.ts). */
    drills: drillSpecSchema.optional(),
    /** Maintenance mode: who turns it on (maintenance.ts). */
    maintenance: maintenanceSpecSchema,
    history: z.number().int().min(2).max(1000).default(10),
  })
  .superRefine((app, ctx) => {
    // A selector names one revision: it cannot hold a canary's split.
    if (app.traffic.type === 'service' && app.strategy.canary)
      ctx.addIssue({
        code: 'custom',
        path: ['traffic', 'type'],
        message:
          "traffic service switches one Service's selector and cannot split traffic for a canary; use strategy blueGreen, or traffic gatewayApi for canary weights",
      });
  });

const hostName = z
  .string()
  .regex(
    /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/,
    'a host name or address, with an optional :port (e.g. rewind.example.com or 10.0.0.5:7070)',
  );
const origin = z
  .string()
  .regex(/^https?:\/\/[^/\s]+$/, 'an origin: scheme://host[:port], no path (e.g. https://ops.example.com)');

/** The API server: who may address it, and TLS. */
export const serverSpecSchema = z
  .strictObject({
    /** Names the API answers to besides its listen address (behind a reverse proxy, a DNS name). */
    allowedHosts: z.array(hostName).default([]),
    /** Web origins whose pages may call the API (none by default: no page can). */
    allowedOrigins: z.array(origin).default([]),
    /** PEM files, relative to rewind.yaml. */
    tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
    /** flagd's sync protocol (flagd.sync.v1, gRPC) for in-process flagd providers; off when absent. */
    flagSync: z
      .strictObject({
        listen: hostPort,
        /**
         * token: every call sends `authorization: Bearer <token>` (the app's OFREP token or an API
         * token that may read the app). none: no credentials, for providers that cannot send them
         * (OpenFeature's Node flagd provider), allowed on a loopback address only.
         */
        auth: z
          .enum(['token', 'none'], {
            error: (i) => `auth: ${JSON.stringify(i.input)} is not token or none`,
          })
          .default('token'),
      })
      .superRefine((sync, ctx) => {
        if (sync.auth === 'none' && !isLoopbackHost(sync.listen.host))
          ctx.addIssue({
            code: 'custom',
            path: ['auth'],
            message: `auth: none lets anyone who reaches ${sync.listen.host}:${sync.listen.port} read every app's flags; listen on 127.0.0.1 (or ::1) for none, or use auth: token`,
          });
      })
      .optional(),
  })
  .prefault({});

/** Whether `host` is reachable only from this machine. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export const configSchema = z.strictObject({
  apps: z.array(appSpecSchema).min(1, 'declare at least one app under apps:'),
  /** Where rollout and incident events go (the console when none is declared). */
  notifications: notificationsSchema,
  server: serverSpecSchema,
});

export type AppSpec = z.output<typeof appSpecSchema>;

/**
 * The force-header secret, read from the environment variable the app names (undefined when none
 * is configured). Read when needed, so that it never sits in the parsed config or its dumps.
 */
export function forceSecret(app: AppSpec): string | undefined {
  const name = app.routing.forceSecretEnv;
  if (name === undefined) return undefined;
  const value = process.env[name];
  if (value === undefined || value === '')
    throw new Error(
      `app ${app.name}: routing.forceSecretEnv names ${name}, which is not set; export ${name} for rewind server or remove forceSecretEnv`,
    );
  return value;
}

/** The force header's value that routes to `revision` (with the secret when one is configured). */
export function forceValue(app: AppSpec, revision: number): string {
  const secret = forceSecret(app);
  return secret === undefined ? String(revision) : `${revision}:${secret}`;
}
export type { Check };
export type RewindConfig = z.output<typeof configSchema>;

export interface RolloutSettings {
  readonly strategy: 'blueGreen' | 'canary';
  readonly prePromotionChecks: readonly Check[];
  readonly bake: number;
  /** The post-deploy watch, ms from the first request; 0 when off. */
  readonly watch: number;
  readonly keepPreviousWarm: number;
  readonly drainTimeout: number;
  /** Canary steps; undefined for blue-green. */
  readonly steps?: readonly CanaryStepSpec[];
}

/** The app's strategy with its settings in one shape (blue-green when none is declared). */
export function rolloutSettings(app: AppSpec): RolloutSettings {
  const { canary } = app.strategy;
  if (canary)
    return {
      strategy: 'canary',
      ...canary,
      keepPreviousWarm: canary.keepPreviousWarm ?? canary.watch,
      steps: canary.steps as CanaryStepSpec[],
    };
  const bg = app.strategy.blueGreen ?? blueGreenSchema.parse({});
  return { strategy: 'blueGreen', ...bg, keepPreviousWarm: bg.keepPreviousWarm ?? bg.watch };
}
