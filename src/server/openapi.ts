// The OpenAPI document the server serves at /api/v1/openapi.json.
import { z } from 'zod';
import { ERROR_STATUS } from '../shared/errors.ts';
import {
  configBody,
  deployBody,
  promoteBody,
  reasonBody,
  rollbackBody,
  rotateKeyBody,
  tokenBody,
} from './api-schemas.ts';
import {
  dbBackupBody,
  dbMigrateBody,
  dbRestoreBody,
  dbRollbackBody,
  dbRoundTripBody,
  dbVerifyBody,
} from './db-routes.ts';
import { drillBody } from './drill-routes.ts';
import { flagBody, flagChangeBody, flagRollbackBody, flagSetBody } from './flags-routes.ts';
import { ROUTE_POLICIES } from './route-policy.ts';

const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const appParam = { name: 'app', in: 'path', required: true, schema: { type: 'string' } };
const errors = { '4XX': { description: 'Coded error', ...json(ref('Error')) } };

/** What a drill and its list entry share. */
const DRILL_HEAD = {
  id: { type: 'string' },
  app: { type: 'string' },
  version: { type: 'string' },
  status: { enum: ['Running', 'Passed', 'Failed'] },
};

const keyParam = { name: 'key', in: 'path', required: true, schema: { type: 'string' } };
const versionQuery = { name: 'version', in: 'query', schema: { type: 'string' } };
const OFREP_PORT_NOTE =
  "Also served, on the same path with the same admission and answers, on the OFREP port (rewind server --ofrep-port, default the API port + 1) by a worker thread off the controller's event loop; instances get that address as REWIND_OFREP_URL.";
const post = (summary: string, body: z.ZodType | null, params: unknown[] = [appParam]) => ({
  post: {
    summary,
    parameters: params,
    ...(body && { requestBody: json(z.toJSONSchema(body, { unrepresentable: 'any' })) }),
    responses: { 200: json({ type: 'object' }), ...errors },
  },
});
const get = (summary: string, params: unknown[] = [appParam]) => ({
  get: { summary, parameters: params, responses: { 200: json({ type: 'object' }), ...errors } },
});

function flagPaths() {
  const ofrepErrors = {
    400: json({
      type: 'object',
      properties: { key: {}, errorCode: { type: 'string' }, errorDetails: { type: 'string' } },
    }),
    404: json({
      type: 'object',
      properties: { key: {}, errorCode: { const: 'FLAG_NOT_FOUND' }, errorDetails: { type: 'string' } },
    }),
  };
  return {
    '/apps/{app}/flags': {
      ...get('The flag set in force (flagd format) and its version'),
      put: {
        summary: 'Replace the whole flag set: a new version',
        parameters: [appParam],
        requestBody: json(z.toJSONSchema(flagSetBody, { unrepresentable: 'any' })),
        responses: { 200: json({ type: 'object' }), ...errors },
      },
    },
    '/apps/{app}/flags/history': get('Flag-set versions, newest first: author, reason, diff'),
    '/apps/{app}/flags/versions/{version}': get('One flag-set version', [
      appParam,
      { name: 'version', in: 'path', required: true, schema: { type: 'integer' } },
    ]),
    '/apps/{app}/flags/rollback': post('A new version that copies an earlier one', flagRollbackBody),
    '/apps/{app}/flags/{key}': {
      ...get("One flag's definition", [appParam, keyParam]),
      put: {
        summary: 'Add or replace one flag: a new version',
        parameters: [appParam, keyParam],
        requestBody: json(z.toJSONSchema(flagBody, { unrepresentable: 'any' })),
        responses: { 200: json({ type: 'object' }), ...errors },
      },
    },
    '/apps/{app}/flags/{key}/enable': post('Enable a flag: a new version', flagChangeBody, [
      appParam,
      keyParam,
    ]),
    '/apps/{app}/flags/{key}/disable': post(
      'Kill switch: disable a flag (a new version) and open an incident; the release stays',
      flagChangeBody,
      [appParam, keyParam],
    ),
    '/apps/{app}/ofrep/v1/evaluate/flags/{key}': {
      post: {
        summary: 'OFREP single-flag evaluation (OpenFeature Remote Evaluation Protocol v1)',
        description: OFREP_PORT_NOTE,
        parameters: [appParam, keyParam],
        requestBody: json({ type: 'object', properties: { context: { type: 'object' } } }),
        responses: { 200: json({ type: 'object' }), ...ofrepErrors },
      },
    },
    '/apps/{app}/ofrep/v1/evaluate/flags': {
      post: {
        summary:
          'OFREP bulk evaluation; ETag / If-None-Match (304) follow the flag-set version and the context',
        description: OFREP_PORT_NOTE,
        parameters: [appParam, { name: 'If-None-Match', in: 'header', schema: { type: 'string' } }],
        requestBody: json({ type: 'object', properties: { context: { type: 'object' } } }),
        responses: {
          200: json({ type: 'object' }),
          304: { description: 'Not modified' },
          400: ofrepErrors[400],
        },
      },
    },
  };
}

function dbPaths() {
  return {
    '/apps/{app}/db/plan': get(
      'Migration level, applied and pending migrations of a version (default: the stable one), and when each runs',
      [appParam, versionQuery],
    ),
    '/apps/{app}/db/lint': get("Expand/contract classification and findings of a version's migrations", [
      appParam,
      versionQuery,
    ]),
    '/apps/{app}/db/roundtrip': post(
      "Round-trip a version's pending migrations on a scratch copy of the app's schema: up, down, compare (differences named), up again",
      dbRoundTripBody,
    ),
    '/apps/{app}/db/backups': get('Backups taken, newest first'),
    '/apps/{app}/db/migrate': post(
      "Run the stable revision's pending migrations (while no rollout runs)",
      dbMigrateBody,
    ),
    '/apps/{app}/db/contract': post(
      "Run the stable revision's contract migrations, each after a backup",
      null,
    ),
    '/apps/{app}/db/rollback': post("Undo migrations down to a level or a revision's level", dbRollbackBody),
    '/apps/{app}/db/backup': post('Back up tables (default: all)', dbBackupBody),
    '/apps/{app}/db/restore': post(
      "Put back the rows backed up before a revision's contract migrations",
      dbRestoreBody,
    ),
    '/apps/{app}/db/verify': post('Schema fingerprint, unchanged data, foreign keys', dbVerifyBody),
  };
}

function securityPaths() {
  const since = { name: 'since', in: 'query', schema: { type: 'string', examples: ['1h', '7d'] } };
  return {
    '/apps/{app}/events': get("The app's events, oldest first", [
      appParam,
      { name: 'after', in: 'query', schema: { type: 'integer' } },
    ]),
    '/audit': get(
      'The audit trail: every mutating request, allowed or refused; verify=true checks the chain',
      [
        { name: 'app', in: 'query', schema: { type: 'string' } },
        since,
        { name: 'limit', in: 'query', schema: { type: 'integer' } },
        { name: 'verify', in: 'query', schema: { type: 'boolean' } },
      ],
    ),
    '/tokens': {
      ...get('API tokens (never the tokens themselves)', []),
      ...post('Create a token; the answer holds it, the only time it is shown', tokenBody, []),
    },
    '/secrets/rotate-key': post(
      'Re-seal every stored secret under a new key, in one transaction, without restarting instances; restart the server with the new key afterwards',
      rotateKeyBody,
      [],
    ),
    '/tokens/{name}/revoke': post('Revoke a token', reasonBody, [
      { name: 'name', in: 'path', required: true, schema: { type: 'string' } },
    ]),
  };
}

/** Puts the role each operation needs (route-policy.ts) on it: security + x-rewind-role. */
function withSecurity<T extends Record<string, Record<string, Record<string, unknown>>>>(paths: T): T {
  for (const [path, ops] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const policy = ROUTE_POLICIES[`${method.toUpperCase()} /api/v1${path}`];
      if (!policy) throw new Error(`openapi: ${method.toUpperCase()} ${path} has no entry in ROUTE_POLICIES`);
      op['x-rewind-role'] = policy.role;
      if (policy.escalates) op['x-rewind-escalates'] = `admin: ${policy.escalates}`;
      op.security =
        policy.role === 'public'
          ? []
          : policy.role === 'ofrep'
            ? [{ ofrepToken: [] }, { bearerToken: ['viewer'] }]
            : [{ bearerToken: [policy.role] }];
    }
  }
  return paths;
}

/**
 * /healthz and /readyz sit outside /api/v1 (a path-level server), for load balancers: public,
 * 200 when well or ready, 503 with the reasons otherwise (health.ts).
 */
function healthPaths() {
  const check = {
    type: 'object',
    required: ['ok'],
    properties: { ok: { type: 'boolean' }, reason: { type: 'string' } },
  };
  const health = {
    type: 'object',
    required: ['status', 'checks'],
    properties: {
      status: { enum: ['ok', 'degraded'] },
      checks: {
        type: 'object',
        required: ['store'],
        properties: {
          store: check,
          agent: check,
          proxy: {
            ...check,
            properties: {
              ...check.properties,
              workers: { type: 'integer' },
              up: { type: 'integer' },
              restarts: { type: 'integer' },
            },
          },
        },
      },
    },
  };
  const ready = {
    type: 'object',
    required: ['ready', 'reasons'],
    properties: { ready: { type: 'boolean' }, reasons: { type: 'array', items: { type: 'string' } } },
  };
  const op = (path: string, summary: string, schema: unknown, failing: string) => ({
    servers: [{ url: '/' }],
    get: {
      summary,
      'x-rewind-role': ROUTE_POLICIES[`GET ${path}`]?.role,
      security: [],
      responses: { 200: json(schema), 503: { description: failing, ...json(schema) } },
    },
  });
  return {
    '/healthz': op(
      '/healthz',
      'Whether every part is up: the store answers, the agent answers, every proxy worker serves',
      health,
      'Degraded: the checks that fail say why',
    ),
    '/readyz': op(
      '/readyz',
      'Whether this server can act (for load balancers): store open, agent connected, route tables applied',
      ready,
      'Not ready: the reasons say why',
    ),
  };
}

/** Each rule's phase at the last evaluation of a watch (post-deploy or steady-state). */
const RULE_PHASES = {
  rules: {
    type: 'array',
    items: {
      type: 'object',
      properties: { name: { type: 'string' }, phase: { type: 'string' }, message: { type: 'string' } },
    },
  },
  evaluatedAt: { type: ['integer', 'null'] },
} as const;

export function openApiDocument(version: string) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Rewind API',
      version,
      description: 'Rollback-first delivery controller. The CLI is a thin client of this API.',
    },
    servers: [{ url: '/api/v1' }],
    security: [{ bearerToken: [] }],
    paths: {
      ...withSecurity({
        ...securityPaths(),
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
        '/apps/{app}/revisions/diff': {
          get: {
            summary: 'What changed between two revisions (secrets by name only)',
            parameters: [
              appParam,
              { name: 'from', in: 'query', schema: { type: 'integer' } },
              { name: 'to', in: 'query', schema: { type: 'integer' } },
            ],
            responses: { 200: json({ type: 'object' }), ...errors },
          },
        },
        '/apps/{app}/config': {
          get: {
            summary: "A revision's config, and its secrets by name (default: the stable revision)",
            parameters: [appParam, { name: 'revision', in: 'query', schema: { type: 'integer' } }],
            responses: { 200: json({ type: 'object' }), ...errors },
          },
          post: {
            summary: 'Set or unset config and secrets: a new revision, rolled out like any other',
            parameters: [appParam],
            requestBody: json(z.toJSONSchema(configBody)),
            responses: { 202: json(ref('Rollout')), ...errors },
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
        ...flagPaths(),
        ...dbPaths(),
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
        '/apps/{app}/drills': {
          post: {
            summary:
              "Start a rollback drill: deploy the version with the app's strategy, roll it back on purpose once the deploy completed, verify the restored revision, switch each kill-switch flag off and on. No incident; 202 with the drill, which runs in the server (follow GET /drills/{id})",
            parameters: [appParam],
            requestBody: json(z.toJSONSchema(drillBody, { unrepresentable: 'any' })),
            responses: { 202: json(ref('Drill')), ...errors },
          },
        },
        '/drills': {
          get: {
            summary: 'Rollback drills, newest first: status and rollback times',
            parameters: [
              { name: 'app', in: 'query', schema: { type: 'string' } },
              { name: 'limit', in: 'query', schema: { type: 'integer' } },
            ],
            responses: { 200: json({ type: 'array', items: ref('DrillSummary') }), ...errors },
          },
        },
        '/drills/{id}': {
          get: {
            summary:
              "One drill with its report (JSON), or the report with the runbook's checklist as Markdown (format=md)",
            parameters: [
              { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
              { name: 'format', in: 'query', schema: { type: 'string', enum: ['json', 'md'] } },
            ],
            responses: {
              200: {
                description: 'The drill',
                content: {
                  'application/json': { schema: ref('Drill') },
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
      }),
      ...healthPaths(),
    },
    components: {
      securitySchemes: {
        bearerToken: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An API token (rewind tokens create NAME --role viewer|deployer|admin). The scopes listed on an operation are the weakest role it needs; roles: viewer < deployer < admin.',
        },
        ofrepToken: {
          type: 'http',
          scheme: 'bearer',
          description:
            "The app's flag token, handed to each instance as REWIND_OFREP_TOKEN: OFREP routes of that app only.",
        },
      },
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
        Drill: {
          type: 'object',
          properties: {
            ...DRILL_HEAD,
            report: { type: 'object', description: 'The drill report (docs/drills.md)' },
            createdAt: { type: 'integer' },
            updatedAt: { type: 'integer' },
            finishedAt: { type: ['integer', 'null'] },
          },
        },
        DrillSummary: {
          type: 'object',
          properties: {
            ...DRILL_HEAD,
            startedAt: { type: 'integer' },
            finishedAt: { type: ['integer', 'null'] },
            msToTrafficRestored: { type: ['number', 'null'] },
            msToVerified: { type: ['number', 'null'] },
            failures: { type: 'array', items: { type: 'string' } },
          },
        },
        AppStatus: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            lastProvenDrill: {
              description: "When the app's way back was last proven: its newest passed drill",
              oneOf: [ref('DrillSummary'), { type: 'null' }],
            },
            stableRevision: { type: ['integer', 'null'] },
            activeRollout: { oneOf: [ref('Rollout'), { type: 'null' }] },
            watch: {
              description: 'The post-deploy watch of the stable revision, while it goes on',
              oneOf: [
                {
                  type: 'object',
                  properties: {
                    rolloutId: { type: 'string' },
                    revision: { type: 'integer' },
                    previousRevision: { type: ['integer', 'null'] },
                    until: { type: 'integer', description: 'unix ms' },
                    leftMs: { type: 'integer' },
                    judgment: {
                      oneOf: [
                        {
                          type: 'object',
                          properties: { verdict: { type: 'string' }, message: { type: 'string' } },
                        },
                        { type: 'null' },
                      ],
                    },
                    ...RULE_PHASES,
                  },
                },
                { type: 'null' },
              ],
            },
            steadyWatch: {
              description:
                'The steady-state watch of the stable revision (rules marked watch: always), once no rollout or post-deploy watch runs',
              oneOf: [
                {
                  type: 'object',
                  properties: {
                    revision: { type: 'integer' },
                    ...RULE_PHASES,
                  },
                },
                { type: 'null' },
              ],
            },
          },
        },
      },
    },
  };
}
