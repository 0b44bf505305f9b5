// What the HTTP API answers: the bodies of its responses, as zod schemas (for the OpenAPI document
// and the server's typed handlers) and as types (for the CLI). Records the store owns in more
// detail (a rollout's step state, a drill's report) are `unknown` here: their owners read them.
import { z } from 'zod';
import { ERROR_STATUS, type ErrorCode } from '../shared/errors.ts';
import { REVISION_OUTCOMES } from '../spec/revision-outcome.ts';

/** A schema published under components/schemas of the OpenAPI document, by name. */
const named = <T extends z.ZodType>(id: string, schema: T): T => schema.meta({ id }) as T;

/**
 * An object whose shape its feature owns and documents (a migration plan, a flag definition...):
 * typed `unknown` here, an object in the OpenAPI document.
 */
export const anObject = (description?: string) =>
  z.unknown().meta({ type: 'object', ...(description && { description }) });

/** The codes of the catalogue (shared/errors.ts), each with its HTTP status there. */
export const ERROR_CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

/** Every refusal and failure: a code from the catalogue (shared/errors.ts) and a message that names the fix. */
export const apiError = named(
  'Error',
  z.object({
    error: z.object({
      code: z.enum(ERROR_CODES),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  }),
);

export const ROLLOUT_PHASES = [
  'Pending',
  'Progressing',
  'Paused',
  'Promoting',
  'Baking',
  'Completed',
  'RollingBack',
  'RolledBack',
  'Failed',
] as const;

export const rollout = named(
  'Rollout',
  z.object({
    id: z.string(),
    app: z.string(),
    kind: z.enum(['deploy', 'rollback']),
    strategy: z.string(),
    fromRevision: z.number().int().nullable(),
    toRevision: z.number().int(),
    phase: z.enum(ROLLOUT_PHASES),
    state: z.unknown().describe("Step-machine state, the rollouts feature's own"),
    reason: z.string().nullable(),
    error: z.string().nullable(),
    generation: z.number().int(),
    createdAt: z.number().int(),
    updatedAt: z.number().int(),
    finishedAt: z.number().int().nullable(),
  }),
);

export const revision = z.object({
  app: z.string(),
  number: z.number().int(),
  version: z.string(),
  spec: z.unknown().describe('What the revision deploys; secrets by name only'),
  copiedFrom: z.number().int().nullable(),
  reason: z.string().nullable(),
  createdAt: z.number().int(),
});

/** A revision in the history, with what became of it. */
export const revisionEntry = revision.extend({
  outcome: z
    .enum(REVISION_OUTCOMES)
    .nullable()
    .describe(
      'stable: serves; rolling out; superseded: served until a later deploy; rolled back: during its rollout or after it served; aborted: stopped by hand during its rollout; failed: its rollout failed. Null when no rollout of it is known',
    ),
});

export const event = z.object({
  id: z.number().int(),
  app: z.string(),
  rolloutId: z.string().nullable(),
  at: z.number().int(),
  type: z.string(),
  message: z.string(),
  data: z.unknown(),
});

const drillHead = {
  id: z.string(),
  app: z.string(),
  version: z.string(),
  status: z.enum(['Running', 'Passed', 'Failed']),
};

export const drill = named(
  'Drill',
  z.object({
    ...drillHead,
    report: z.unknown().describe('The drill report (docs/drills.md)'),
    createdAt: z.number().int(),
    updatedAt: z.number().int(),
    finishedAt: z.number().int().nullable(),
  }),
);

export const drillSummary = named(
  'DrillSummary',
  z.object({
    ...drillHead,
    startedAt: z.number().int(),
    finishedAt: z.number().int().nullable(),
    msToTrafficRestored: z.number().nullable(),
    msToVerified: z.number().nullable(),
    failures: z.array(z.string()),
  }),
);

export const maintenance = named(
  'Maintenance',
  z.object({
    since: z.number().int().describe('When it was turned on, unix ms'),
    retryAfterSeconds: z.number().int(),
    page: z.enum(['default', 'custom']).describe('default: the page naming the app'),
    reason: z.string().nullable(),
    by: z.string().describe('The token that turned it on, or rewind'),
    source: z
      .enum(['manual', 'auto'])
      .describe(
        'manual: by a person, who turns it off; auto: by Rewind (maintenance: auto), which turns it off',
      ),
    rolloutId: z.string().nullable().describe('The rollback it was turned on for (auto)'),
  }),
);

/** What `POST /apps/{app}/maintenance` did. */
export const maintenanceAnswer = z.object({
  app: z.string(),
  on: z.boolean(),
  changed: z.boolean().describe('false: it was off already'),
  inForceAt: z
    .number()
    .nullable()
    .describe('When every proxy worker answered with it (unix ms), null when the router cannot tell'),
  maintenance: maintenance.nullable(),
});

const rulePhases = {
  rules: z.array(z.object({ name: z.string(), phase: z.string(), message: z.string() })).readonly(),
  evaluatedAt: z.number().int().nullable(),
};

export const appStatus = named(
  'AppStatus',
  z.object({
    name: z.string(),
    listen: z.string(),
    stableRevision: z.number().int().nullable(),
    stableVersion: z.string().nullable(),
    activeRollout: rollout.nullable(),
    analysis: z
      .object({
        rolloutId: z.string(),
        judgment: z.object({ verdict: z.string(), message: z.string() }).nullable(),
        ...rulePhases,
      })
      .nullable()
      .describe(
        "The analysis of the rollout in progress at its last evaluation (judgment, each rule's phase)",
      ),
    watch: z
      .object({
        rolloutId: z.string(),
        revision: z.number().int(),
        previousRevision: z.number().int().nullable(),
        until: z.number().int().describe('unix ms'),
        leftMs: z.number().int(),
        judgment: z.object({ verdict: z.string(), message: z.string() }).nullable(),
        ...rulePhases,
      })
      .nullable()
      .describe('The post-deploy watch of the stable revision, while it goes on'),
    steadyWatch: z
      .object({ revision: z.number().int(), ...rulePhases })
      .nullable()
      .describe(
        'The steady-state watch of the stable revision (rules marked watch: always), once no rollout or post-deploy watch runs',
      ),
    lastProvenDrill: drillSummary
      .nullable()
      .describe("When the app's way back was last proven: its newest passed drill"),
    maintenance: maintenance
      .nullable()
      .optional()
      .describe('Maintenance mode while it is on (null: off; absent: a server without it)'),
  }),
);

/** One app in detail: its status, where its traffic goes and its instances. */
export const appDetail = appStatus.extend({
  traffic: z.array(z.object({ revision: z.number().int(), weight: z.number(), upstreams: z.number().int() })),
  instances: z.array(
    z.object({
      id: z.string(),
      app: z.string(),
      revision: z.number().int(),
      index: z.number().int(),
      phase: z.string(),
      pid: z.number().int().nullable(),
      port: z.number().int(),
      restarts: z.number().int(),
      startedAt: z.number().int().nullable(),
      lastExit: z
        .object({ code: z.number().int().nullable(), signal: z.string().nullable(), at: z.number().int() })
        .nullable(),
      reason: z.string().nullable(),
      health: z.string(),
    }),
  ),
  rules: z
    .array(
      z.object({
        name: z.string(),
        metric: z.string(),
        direction: z.enum(['above', 'below']),
        threshold: z.union([
          z.object({ kind: z.literal('absolute'), value: z.number() }),
          z.object({ kind: z.literal('relative'), factor: z.number() }),
        ]),
        forMs: z.number().int(),
        minSample: z.number().int(),
        severity: z.string(),
        flag: z.string().optional(),
        watch: z.literal('always').optional(),
      }),
    )
    .describe(
      "The analysis rules the app's rollouts are judged by (the runbook's defaults when it declares none)",
    ),
});

export const revisionDiff = z.object({
  app: z.string(),
  from: z.number().int(),
  to: z.number().int(),
  basis: z
    .enum(['given', 'servedBefore', 'previous'])
    .describe(
      'How from was chosen. given: asked for; servedBefore: the revision that served when to was rolled out; previous: to - 1 (no rollout of to known)',
    ),
  skipped: z
    .array(z.object({ revision: z.number().int(), outcome: z.enum(REVISION_OUTCOMES).nullable() }))
    .describe('With basis servedBefore: the revisions numbered between from and to, and what became of them'),
  changes: z.array(z.unknown()),
});

export const configView = z.object({
  app: z.string(),
  revision: z.number().int(),
  config: z.record(z.string(), z.string()),
  secrets: z.array(z.string()).describe('Names only: values are never shown'),
});

export const logLine = z.object({
  at: z.number(),
  instance: z.string(),
  stream: z.string(),
  line: z.string(),
});

export const incident = anObject(
  'An incident: trigger, timeline, impact, actions, verification and, once its rollback ended, its evidence (logs, per-second series, diff, decision; not in lists) (docs/incidents.md)',
);

export const token = z.object({
  id: z.string(),
  name: z.string(),
  role: z.string(),
  app: z.string().nullable(),
  createdAt: z.number().int(),
  expiresAt: z.number().int().nullable(),
  revokedAt: z.number().int().nullable(),
});

export const tokenCreated = token.extend({
  token: z.string().describe('The token itself: shown this once, stored only as a hash'),
});

export const auditEntry = z.object({
  id: z.number().int(),
  at: z.number().int(),
  actor: z.string().nullable(),
  role: z.string().nullable(),
  remote: z.string(),
  method: z.string(),
  route: z.string(),
  app: z.string().nullable(),
  revision: z.number().int().nullable(),
  outcome: z.string(),
  status: z.number().int(),
  reason: z.string().nullable(),
  prevHash: z.string(),
  hash: z.string(),
});

export const auditAnswer = z.object({
  entries: z.array(auditEntry),
  verify: z
    .object({
      ok: z.boolean(),
      entries: z.number().int(),
      id: z.number().int().optional(),
      problem: z.string().optional(),
    })
    .nullable(),
});

/** What a flag-set change made: the new version, what changed, what flagd objects to. */
export const flagChange = z.object({
  version: z.number().int(),
  changes: z.array(z.unknown()),
  warnings: z.array(z.unknown()),
});

export type ApiError = z.output<typeof apiError>;
export type Rollout = z.output<typeof rollout>;
export type RolloutPhase = Rollout['phase'];
export type Revision = z.output<typeof revision>;
export type RevisionEntry = z.output<typeof revisionEntry>;
export type RevisionDiff = z.output<typeof revisionDiff>;
export type Event = z.output<typeof event>;
export type Drill = z.output<typeof drill>;
export type DrillSummary = z.output<typeof drillSummary>;
export type AppStatus = z.output<typeof appStatus>;
export type AppDetail = z.output<typeof appDetail>;
export type LogLine = z.output<typeof logLine>;
export type Token = z.output<typeof token>;
export type TokenCreated = z.output<typeof tokenCreated>;
export type AuditEntry = z.output<typeof auditEntry>;
export type AuditAnswer = z.output<typeof auditAnswer>;
export type FlagChange = z.output<typeof flagChange>;
export type Maintenance = z.output<typeof maintenance>;
export type MaintenanceAnswer = z.output<typeof maintenanceAnswer>;

const healthCheck = z.object({ ok: z.boolean(), reason: z.string().optional() });

/** /healthz: whether every part is up; public, so reasons in words that give nothing away. */
const role = z
  .enum(['leader', 'follower'])
  .describe('With several servers on one store: whether this one leads (acts) or follows (serves reads)');

export const healthReport = z.object({
  status: z.enum(['ok', 'degraded']),
  role: role.optional(),
  checks: z.object({
    store: healthCheck,
    agent: healthCheck.optional(),
    proxy: healthCheck
      .extend({
        workers: z.number().int().optional(),
        up: z.number().int().optional(),
        restarts: z.number().int().optional(),
      })
      .optional(),
    ofrep: healthCheck.extend({ restarts: z.number().int() }).optional(),
  }),
});

/** /readyz: whether this server can act. */
export const readyReport = z.object({
  ready: z.boolean(),
  role: role.optional(),
  reasons: z.array(z.string()).readonly(),
});
