// The OpenAPI document the server serves at /api/v1/openapi.json.
import { z } from 'zod';
import { ERROR_STATUS } from '../shared/errors.ts';
import { deployBody, promoteBody, reasonBody, rollbackBody } from './api-schemas.ts';

const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const appParam = { name: 'app', in: 'path', required: true, schema: { type: 'string' } };
const errors = { '4XX': { description: 'Coded error', ...json(ref('Error')) } };

export function openApiDocument(version: string) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Rewind API',
      version,
      description: 'Rollback-first delivery controller. The CLI is a thin client of this API.',
    },
    servers: [{ url: '/api/v1' }],
    paths: {
      '/apps': {
        get: {
          summary: 'Apps with their stable revision and active rollout',
          responses: { 200: json({ type: 'array', items: ref('AppStatus') }) },
        },
      },
      '/apps/{app}': {
        get: {
          summary: 'Status of one app',
          parameters: [appParam],
          responses: { 200: json(ref('AppStatus')), ...errors },
        },
      },
      '/apps/{app}/revisions': {
        get: {
          summary: 'Revision history, newest first',
          parameters: [appParam],
          responses: { 200: json({ type: 'array' }), ...errors },
        },
      },
      '/apps/{app}/rollouts': {
        get: {
          summary: 'Rollouts, newest first',
          parameters: [appParam],
          responses: { 200: json({ type: 'array' }), ...errors },
        },
      },
      '/apps/{app}/deploy': {
        post: {
          summary: 'Create a revision and roll it out (blue-green)',
          parameters: [appParam],
          requestBody: json(z.toJSONSchema(deployBody)),
          responses: { 202: json(ref('Rollout')), ...errors },
        },
      },
      '/apps/{app}/rollback': {
        post: {
          summary: 'Put the previous (or the named) revision back',
          parameters: [appParam],
          requestBody: json(z.toJSONSchema(rollbackBody)),
          responses: { 202: json(ref('Rollout')), ...errors },
        },
      },
      '/apps/{app}/promote': {
        post: {
          summary: 'End the current pause of the rollout, or with full: skip to 100% and the bake',
          parameters: [appParam],
          requestBody: json(z.toJSONSchema(promoteBody)),
          responses: { 200: json(ref('Rollout')), ...errors },
        },
      },
      '/apps/{app}/abort': {
        post: {
          summary: 'Abort the rollout: traffic back on the stable revision, new processes stopped',
          parameters: [appParam],
          requestBody: json(z.toJSONSchema(reasonBody)),
          responses: { 200: json(ref('Rollout')), ...errors },
        },
      },
      '/apps/{app}/pause': {
        post: {
          summary: 'Pause the rollout where it is',
          parameters: [appParam],
          requestBody: json(z.toJSONSchema(reasonBody)),
          responses: { 200: json(ref('Rollout')), ...errors },
        },
      },
      '/apps/{app}/resume': {
        post: {
          summary: 'Resume a paused rollout',
          parameters: [appParam],
          responses: { 200: json(ref('Rollout')), ...errors },
        },
      },
      '/apps/{app}/logs': {
        get: {
          summary: 'Last lines printed by the app instances',
          parameters: [
            appParam,
            { name: 'revision', in: 'query', schema: { type: 'integer' } },
            { name: 'tail', in: 'query', schema: { type: 'integer' } },
          ],
          responses: { 200: json({ type: 'array' }), ...errors },
        },
      },
      '/apps/{app}/metrics': {
        get: {
          summary: 'Per-revision one-second buckets from the data plane',
          parameters: [appParam, { name: 'since', in: 'query', schema: { type: 'integer' } }],
          responses: { 200: json({ type: 'array' }), ...errors },
        },
      },
      '/incidents': {
        get: {
          summary: 'Incidents, newest first (every rollback opens one)',
          parameters: [{ name: 'app', in: 'query', schema: { type: 'string' } }],
          responses: { 200: json({ type: 'array' }), ...errors },
        },
      },
      '/incidents/{id}': {
        get: {
          summary: 'One incident as JSON, or its report as Markdown (format=md)',
          parameters: [
            { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
            { name: 'format', in: 'query', schema: { type: 'string', enum: ['json', 'md'] } },
          ],
          responses: {
            200: {
              description: 'The incident',
              content: {
                'application/json': { schema: { type: 'object' } },
                'text/markdown': { schema: { type: 'string' } },
              },
            },
            ...errors,
          },
        },
      },
      '/rollouts/{id}': {
        get: {
          summary: 'One rollout',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { 200: json(ref('Rollout')), ...errors },
        },
      },
      '/rollouts/{id}/events': {
        get: {
          summary: 'Events of a rollout, oldest first',
          parameters: [
            { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
            { name: 'after', in: 'query', schema: { type: 'integer' } },
          ],
          responses: { 200: json({ type: 'array' }), ...errors },
        },
      },
    },
    components: {
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: { type: 'string', enum: Object.keys(ERROR_STATUS) },
                message: { type: 'string' },
                details: { type: 'object' },
              },
            },
          },
        },
        Rollout: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            app: { type: 'string' },
            kind: { type: 'string', enum: ['deploy', 'rollback'] },
            phase: {
              type: 'string',
              enum: [
                'Pending',
                'Progressing',
                'Paused',
                'Promoting',
                'Baking',
                'Completed',
                'RollingBack',
                'RolledBack',
                'Failed',
              ],
            },
            fromRevision: { type: ['integer', 'null'] },
            toRevision: { type: 'integer' },
            error: { type: ['string', 'null'] },
          },
        },
        AppStatus: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            stableRevision: { type: ['integer', 'null'] },
            activeRollout: { oneOf: [ref('Rollout'), { type: 'null' }] },
          },
        },
      },
    },
  };
}
