// The API in-process (inject, no socket): coded errors for bad input and for what the store does
// not have, and the OpenAPI document generated from the route schemas with every route's role.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type InProcessApi, inProcessApi } from '../../test/support/in-process-api.ts';
import type { Store } from '../store/types.ts';
import { ROUTE_POLICIES } from './route-policy.ts';

let h: InProcessApi;

/** The routes' store, with one read that meets what the store does not have (an incident). */
const missingIncident = (store: Store): Store => ({
  ...store,
  revisions: {
    ...store.revisions,
    list: async (app, limit) => {
      if (app === 'shop' && limit === 7)
        await store.incidents.update('ghost-incident', { status: 'Resolved' });
      return store.revisions.list(app, limit);
    },
  },
});

before(async () => {
  h = await inProcessApi({ port: 1, role: 'admin', storeSeenByRoutes: missingIncident });
  await h.api.ready();
});
after(() => h?.close());

const call = async (method: 'GET' | 'POST', url: string, body?: unknown) => {
  const r = await h.api.inject({
    method,
    url,
    headers: {
      host: '127.0.0.1:1',
      authorization: `Bearer ${h.token}`,
      ...(method === 'POST' && { 'content-type': 'application/json' }),
    },
    ...(method === 'POST' && { payload: JSON.stringify(body ?? {}) }),
  });
  return { status: r.statusCode, body: r.json() as { error?: { code: string; message: string } } };
};

test('a store "not found" is a coded 404, never a 500', async () => {
  const r = await call('GET', '/api/v1/apps/shop/revisions?limit=7');
  assert.equal(r.status, 404);
  assert.equal(r.body.error?.code, 'INCIDENT_NOT_FOUND');
  assert.match(r.body.error?.message ?? '', /^incident ghost-incident not found/);
});

test('bad input is VALIDATION_FAILED naming the field, the value and the fix', async () => {
  const cases: [method: 'GET' | 'POST', url: string, body: unknown, message: RegExp][] = [
    ['POST', '/api/v1/apps/shop/deploy', { version: 'v2', versio: 'x' }, /^body: unknown field\(s\) versio$/],
    ['POST', '/api/v1/apps/shop/deploy', { version: 2 }, /^version: /],
    ['POST', '/api/v1/apps/shop/rollback', { toRevision: -1 }, /^toRevision: /],
    [
      'GET',
      '/api/v1/apps/shop/revisions?limit=x',
      undefined,
      /^limit: "x" is not an integer from 0 to 2147483647$/,
    ],
    ['GET', '/api/v1/incidents/x?format=pdf', undefined, /^format: "pdf" is not md or json$/],
    ['GET', '/api/v1/audit?since=soon', undefined, /^since: "soon" is not a duration; write for example 1h/],
  ];
  for (const [method, url, body, message] of cases) {
    const r = await call(method, url, body);
    assert.equal(r.status, 400, `${method} ${url}`);
    assert.equal(r.body.error?.code, 'VALIDATION_FAILED', `${method} ${url}`);
    assert.match(r.body.error?.message ?? '', message, `${method} ${url}`);
  }
});

test('a handler gets what the schema outputs: defaults and numbers from the query string', async () => {
  const r = await call('GET', '/api/v1/apps/shop/revisions?limit=3');
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, []);
});

test('the OpenAPI document has every route once, with the role route-policy.ts gives it', async () => {
  const doc = (await call('GET', '/api/v1/openapi.json')).body as unknown as {
    openapi: string;
    servers: { url: string }[];
    paths: Record<string, Record<string, { 'x-rewind-role'?: string; security?: unknown[] }>>;
    components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
  };
  assert.equal(doc.openapi, '3.1.0');
  assert.deepEqual(doc.servers, [{ url: '/api/v1' }]);
  const seen: string[] = [];
  for (const [path, { servers, ...ops }] of Object.entries(doc.paths)) {
    const full = servers ? path : `/api/v1${path}`;
    for (const [method, op] of Object.entries(ops)) {
      const key = `${method.toUpperCase()} ${full}`;
      assert.equal(op['x-rewind-role'], ROUTE_POLICIES[key]?.role, key);
      assert.ok(Array.isArray(op.security), key);
      seen.push(key);
    }
  }
  const hidden = ['GET /metrics', 'GET /api/v1/openapi.json', 'GET /', 'GET /*', 'GET /signin'];
  assert.deepEqual(
    seen.sort(),
    Object.keys(ROUTE_POLICIES)
      .filter((k) => !hidden.includes(k))
      .sort(),
  );
  for (const name of ['Error', 'Rollout', 'AppStatus', 'Drill', 'DrillSummary'])
    assert.ok(name in doc.components.schemas, name);
  assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), [
    'bearerToken',
    'dashboardSession',
    'ofrepToken',
  ]);
});
