// Request bodies of the HTTP API. The OpenAPI document is generated from these same schemas.
import { z } from 'zod';

export const deployBody = z.strictObject({
  version: z.string().min(1).describe('Version label; substituted for ${version} in the run command'),
  env: z.record(z.string(), z.string()).optional().describe('Environment overrides for this revision'),
  reason: z.string().max(500).optional(),
});

export const rollbackBody = z.strictObject({
  toRevision: z
    .number()
    .int()
    .positive()
    .optional()
    .describe('Revision to put back; default: the previous one'),
  reason: z.string().max(500).optional(),
});

export const promoteBody = z.strictObject({
  full: z
    .boolean()
    .optional()
    .describe('Skip every remaining step: all traffic on the new revision, then the bake'),
});

export const reasonBody = z.strictObject({ reason: z.string().max(500).optional() });

const envChanges = z
  .record(z.string(), z.string().nullable())
  .optional()
  .describe('KEY: value to set, KEY: null to unset');

export const configBody = z.strictObject({
  config: envChanges,
  secrets: envChanges.describe('Secrets: sealed at rest, never shown again; KEY: null to unset'),
  reason: z.string().max(500).optional(),
});

export const tokenBody = z.strictObject({
  name: z.string().min(1).describe('Who or what holds the token; recorded as the actor of what it does'),
  role: z.enum(['viewer', 'deployer', 'admin']),
  app: z.string().optional().describe('The one app the token may act on; default: every app'),
  expires: z.string().optional().describe('Lifetime from now: 30d, 12h, 90m; default: no expiry'),
});

export const rotateKeyBody = z.strictObject({
  newKey: z.string().min(1).describe('The new REWIND_SECRETS_KEY: 32 bytes as base64 or hex'),
  reason: z.string().max(500).optional(),
});

export const schemas = { deployBody, rollbackBody, promoteBody, reasonBody, configBody };
