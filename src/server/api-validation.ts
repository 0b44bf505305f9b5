// Route schemas (src/api) checked by zod through fastify-type-provider-zod's types, with Rewind's
// own validator so that a bad input is a coded VALIDATION_FAILED that names the field, the value
// and the fix, like every other error; and the one mapping of errors to coded responses.
import type { FastifySchemaCompiler } from 'fastify';
import type { z } from 'zod';
import type { ApiError } from '../api/responses.ts';
import { RewindError } from '../shared/errors.ts';
import { StoreNotFoundError } from '../store/types.ts';

/** The message of zod's first issue, prefixed by the field it is about. */
export function validationError(error: z.ZodError, part: string): RewindError {
  const issue = error.issues[0]!;
  const field = issue.path.join('.') || part;
  const message =
    issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : issue.message;
  return new RewindError('VALIDATION_FAILED', `${field}: ${message}`, { field });
}

/**
 * Validates a request part with its zod schema. A missing body counts as {} (a client with
 * nothing to say may send none); what the schema outputs (defaults, numbers from query strings)
 * is what the handler gets.
 */
export const validatorCompiler: FastifySchemaCompiler<z.ZodType> = ({ schema, httpPart }) => {
  const part = httpPart === 'body' ? 'body' : (httpPart ?? 'input');
  return (data) => {
    const r = schema.safeParse(httpPart === 'body' ? (data ?? {}) : data);
    return r.success ? { value: r.data } : { error: validationError(r.error, part) };
  };
};

/**
 * Responses are written as they are: their schemas type the handlers and document the API, and
 * checking every answer again would be work per request that finds nothing the types did not.
 */
export const serializerCompiler = () => (data: unknown) => JSON.stringify(data);

const NOT_FOUND_CODE = {
  app: 'APP_NOT_FOUND',
  rollout: 'ROLLOUT_NOT_FOUND',
  incident: 'INCIDENT_NOT_FOUND',
  drill: 'DRILL_NOT_FOUND',
} as const;

/** Any error as the coded response it stands for: RewindErrors as they are, the store's "not found" as a 404. */
export function errorResponse(err: unknown): { status: number; body: ApiError } {
  const coded = (e: RewindError) => ({
    status: e.status,
    body: { error: { code: e.code, message: e.message, details: e.details } },
  });
  if (err instanceof RewindError) return coded(err);
  if (err instanceof StoreNotFoundError)
    return coded(
      new RewindError(NOT_FOUND_CODE[err.kind], err.message.replace(/^store: /, ''), { [err.kind]: err.key }),
    );
  const e = err as Error & { statusCode?: number };
  // Fastify's own 4xx (a body that is not JSON, too large...) keep their status.
  if (e.statusCode && e.statusCode < 500)
    return { status: e.statusCode, body: { error: { code: 'VALIDATION_FAILED', message: e.message } } };
  return { status: 500, body: { error: { code: 'INTERNAL', message: e.message } } };
}
