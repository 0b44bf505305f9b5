// Validation of the agent API's request bodies and query parameters.

import { z } from 'zod';
import { cidrSchema } from '../../../shared/cidr-schema.ts';
import { MAX_MAINTENANCE_PAGE_BYTES, MAX_RETRY_AFTER_SECONDS } from '../../../spec/maintenance.ts';
import type { InstanceSpec } from '../../runtime.ts';
import type { RouteTable } from '../proxy/types.ts';

const appName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'app names are letters, digits, ".", "_" and "-"');

export const instanceSpecSchema = z.object({
  app: appName,
  revision: z.number().int().min(0),
  index: z.number().int().min(0),
  command: z.string().trim().min(1),
  cwd: z.string().min(1),
  env: z.record(z.string(), z.string()).default({}),
  stopTimeoutMs: z.number().int().min(0).max(3_600_000),
});

const upstream = z.object({
  host: z.string().min(1),
  port: z.number().int().min(0).max(65535),
});

export const routeTableSchema = z.object({
  app: appName,
  listen: upstream,
  version: z.number().int(),
  backends: z.array(
    z.object({
      revision: z.number().int().min(0),
      weight: z.number().min(0).max(100),
      upstreams: z.array(upstream),
    }),
  ),
  stickyHeader: z.string().min(1).optional(),
  stickyCookie: z.string().min(1).optional(),
  forceHeader: z.string().min(1),
  timeouts: z
    .object({
      connect: z.number().int().min(1),
      response: z.number().int().min(1),
      clientHeader: z.number().int().min(1),
      idle: z.number().int().min(1),
      send: z.number().int().min(1),
    })
    .optional(),
  maxConnections: z.number().int().min(1).optional(),
  trustedSources: z.array(cidrSchema).optional(),
  forceSecret: z.string().min(1).optional(),
  limits: z
    .object({
      requestLine: z.number().int().min(1),
      headerLine: z.number().int().min(1),
      head: z.number().int().min(1),
    })
    .optional(),
  maintenance: z
    .object({
      retryAfterSeconds: z.number().int().min(1).max(MAX_RETRY_AFTER_SECONDS),
      page: z
        .string()
        .min(1)
        .refine((p) => Buffer.byteLength(p) <= MAX_MAINTENANCE_PAGE_BYTES, {
          message: `the maintenance page is over ${MAX_MAINTENANCE_PAGE_BYTES} bytes`,
        }),
    })
    .optional(),
});

export const stopRevisionSchema = z.object({ app: appName, revision: z.number().int().min(0) });

export class BadRequest extends Error {}

export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (!result.success) throw new BadRequest(z.prettifyError(result.error));
  return result.data;
}

export function parseInstanceSpec(body: unknown): InstanceSpec {
  return parseBody(instanceSpecSchema, body);
}

export function parseRouteTable(body: unknown): RouteTable {
  return parseBody(routeTableSchema, body);
}

export function requiredParam(query: URLSearchParams, name: string): string {
  const value = query.get(name);
  if (value === null || value === '') throw new BadRequest(`query parameter "${name}" is required`);
  return value;
}

export function intParam(query: URLSearchParams, name: string, required: true): number;
export function intParam(query: URLSearchParams, name: string, required?: boolean): number | undefined;
export function intParam(query: URLSearchParams, name: string, required = false): number | undefined {
  const value = query.get(name);
  if (value === null || value === '') {
    if (required) throw new BadRequest(`query parameter "${name}" is required`);
    return undefined;
  }
  const n = Number(value);
  if (!Number.isInteger(n)) throw new BadRequest(`query parameter "${name}" must be an integer`);
  return n;
}
