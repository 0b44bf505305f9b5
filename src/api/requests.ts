// What a client sends the HTTP API: request bodies, path parameters and query strings. The server
// declares them on its routes (validation, typed handlers, the OpenAPI document); the CLI builds
// its requests against the same types.
import { z } from 'zod';
import { MAX_RETRY_AFTER_SECONDS, pageProblem } from '../spec/maintenance.ts';

/** The largest integer a query parameter may carry (a 4-byte signed integer column). */
export const MAX_INT_PARAM = 2_147_483_647;

/**
 * An optional whole number in a query string or path ("" counts as absent). The message names
 * the value and the range; the server prefixes the field.
 */
export const intParam = () =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '') return undefined;
      const n = Number(value);
      if (Number.isInteger(n) && n >= 0 && n <= MAX_INT_PARAM) return n;
      ctx.addIssue({ code: 'custom', message: `"${value}" is not an integer from 0 to ${MAX_INT_PARAM}` });
      return z.NEVER;
    })
    .pipe(z.number().int().optional())
    .meta({ type: 'integer' });

/** `?format=json|md` of a report: JSON by default, Markdown for people. */
export const formatQuery = z
  .string()
  .optional()
  .refine((f) => f === undefined || f === 'json' || f === 'md', {
    error: (issue) => `"${String(issue.input)}" is not md or json`,
  })
  .transform((f) => (f ?? 'json') as 'json' | 'md')
  .meta({ enum: ['json', 'md'] });

const reason = z.string().max(500).optional();

export const deployBody = z.strictObject({
  version: z.string().min(1).describe('Version label; substituted for ${version} in the run command'),
  env: z.record(z.string(), z.string()).optional().describe('Environment overrides for this revision'),
  reason,
});

export const rollbackBody = z.strictObject({
  toRevision: z
    .number()
    .int()
    .positive()
    .optional()
    .describe('Revision to put back; default: the previous one'),
  reason,
});

export const promoteBody = z.strictObject({
  full: z
    .boolean()
    .optional()
    .describe('Skip every remaining step: all traffic on the new revision, then the bake'),
});

export const reasonBody = z.strictObject({ reason });

const envChanges = z
  .record(z.string(), z.string().nullable())
  .optional()
  .describe('KEY: value to set, KEY: null to unset');

const retryAfterMessage = (i: { input: unknown }) =>
  `${JSON.stringify(i.input)} is not a whole number of seconds from 1 to ${MAX_RETRY_AFTER_SECONDS}; give for example 60`;

export const maintenanceBody = z.strictObject({
  on: z
    .boolean({
      error: (i) =>
        i.input === undefined
          ? 'missing; send on: true to turn maintenance mode on, on: false to turn it off'
          : `${JSON.stringify(i.input)} is not true or false; send on: true (maintenance on) or on: false (off)`,
    })
    .describe('true: every request gets 503, Retry-After and the page; false: the app serves again'),
  page: z
    .string({ error: 'give the HTML page as a string' })
    .check((ctx) => {
      const problem = pageProblem(ctx.value);
      if (problem) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
    })
    .optional()
    .describe(
      "With on: the HTML page to answer with, at most 256 KiB (default: rewind.yaml's maintenance.page, else a page naming the app)",
    ),
  retryAfterSeconds: z
    .number({ error: retryAfterMessage })
    .int({ error: retryAfterMessage })
    .min(1, { error: retryAfterMessage })
    .max(MAX_RETRY_AFTER_SECONDS, { error: retryAfterMessage })
    .optional()
    .describe(
      "With on: the Retry-After header, seconds (default: rewind.yaml's maintenance.retryAfter, 60 s)",
    ),
  reason,
});

export const configBody = z.strictObject({
  config: envChanges,
  secrets: envChanges.describe('Secrets: sealed at rest, never shown again; KEY: null to unset'),
  reason,
});

export const tokenBody = z.strictObject({
  name: z.string().min(1).describe('Who or what holds the token; recorded as the actor of what it does'),
  role: z.enum(['viewer', 'deployer', 'admin']),
  app: z.string().optional().describe('The one app the token may act on; default: every app'),
  expires: z.string().optional().describe('Lifetime from now: 30d, 12h, 90m; default: no expiry'),
});

export const rotateKeyBody = z.strictObject({
  newKey: z.string().min(1).describe('The new REWIND_SECRETS_KEY: 32 bytes as base64 or hex'),
  reason,
});

export const drillBody = z.strictObject({
  version: z
    .string()
    .min(1)
    .describe(
      'Version to deploy and roll back: the release about to ship, or "stable" for the stable version onto itself',
    ),
});

export const dbMigrateBody = z.strictObject({
  phase: z
    .enum(['expand', 'all'])
    .default('all')
    .describe('expand: only what runs before traffic; all: everything pending'),
});
export const dbContractBody = z.strictObject({});
export const dbRollbackBody = z.strictObject({
  toLevel: z.number().int().min(0).optional().describe('Undo migrations above this level'),
  toRevision: z.number().int().positive().optional().describe("Undo down to this revision's migration level"),
});
export const dbBackupBody = z.strictObject({ tables: z.array(z.string()).optional() });
export const dbRestoreBody = z.strictObject({
  toRevision: z
    .number()
    .int()
    .positive()
    .describe("Merge back what this revision's contract migrations removed (rows written since are kept)"),
  overwrite: z
    .boolean()
    .optional()
    .describe("Destructive: make the tables the backup's rows exactly; without confirm only a preview"),
  confirm: z.boolean().optional().describe('With overwrite: really delete the rows the preview listed'),
});
export const dbVerifyBody = z.strictObject({ level: z.number().int().min(0).optional() });
export const dbRoundTripBody = z.strictObject({
  version: z
    .string()
    .optional()
    .describe("The version whose pending migrations to round-trip (default: the stable revision's)"),
});

export const flagChangeBody = z.strictObject({ reason });
export const flagSetBody = flagChangeBody.extend({
  document: z.unknown().describe("The whole flag set in flagd's format: { flags: { key: {...} } }"),
});
export const flagBody = flagChangeBody.extend({
  definition: z.unknown().describe('One flag: { state, variants, defaultVariant, targeting? }'),
});
export const flagRollbackBody = flagChangeBody.extend({
  toVersion: z.number().int().positive().describe('Flag-set version to copy back into force'),
});

/** An OFREP evaluation request; the OFREP handlers parse it themselves, to answer in OFREP's shape. */
export const ofrepBody = z.object({ context: z.record(z.string(), z.unknown()).optional() });

export type DeployBody = z.input<typeof deployBody>;
export type RollbackBody = z.input<typeof rollbackBody>;
export type ConfigBody = z.input<typeof configBody>;
export type TokenBody = z.input<typeof tokenBody>;
export type DrillBody = z.input<typeof drillBody>;
export type MaintenanceBody = z.input<typeof maintenanceBody>;

export const appParams = z.object({ app: z.string() });
export const idParams = z.object({ id: z.string() });
export const flagParams = appParams.extend({ key: z.string() });
export const limitQuery = z.object({ limit: intParam() });
/** Lists that may be narrowed to one app (a token scoped to an app sees only that one). */
export const appListQuery = z.object({ app: z.string().optional(), limit: intParam() });
export const afterQuery = z.object({ after: intParam() });
export const versionQuery = z.object({ version: z.string().optional() });
export const auditQuery = z.object({
  app: z.string().optional(),
  since: z
    .string()
    .optional()
    .meta({ examples: ['1h', '7d'] }),
  limit: intParam(),
  verify: z.string().optional().describe('true or 1: check the hash chain'),
});
