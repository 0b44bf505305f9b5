// The agent server in this process, with a fake data plane: the routes API, persistence and
// re-application, validation, and the data-dir lock. Plus one test through the real data plane.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  httpGet,
  processGone,
  tempDir,
  waitFor,
  writeApps,
} from '../../../../test/support/process-fixtures.ts';
import type { AppliedTable, DataPlane, MetricsBucket, RouteTable } from '../proxy/types.ts';
import { AgentClient, AgentError, ensureAgent } from './agent-client.ts';
import { AgentAlreadyRunning, AgentServer } from './agent-server.ts';
import { agentPaths } from './paths.ts';

let dir: string;
let remove: () => Promise<void>;
let apps: ReturnType<typeof writeApps>;

before(async () => {
  ({ dir, remove } = await tempDir('rewind-agent-server-'));
  apps = writeApps(dir);
});

after(() => remove());

class FakeDataPlane implements DataPlane {
  readonly tables = new Map<string, RouteTable>();
  readonly calls: string[] = [];
  closed = false;
  async setRoutes(table: RouteTable): Promise<AppliedTable> {
    if (table.backends.some((b) => b.revision === 13)) throw new Error('route table: unlucky revision');
    this.calls.push(`set ${table.app} v${table.version}`);
    this.tables.set(table.app, table);
    return { inForceAt: Date.now() };
  }
  routes(app: string): RouteTable | undefined {
    return this.tables.get(app);
  }
  async removeApp(app: string): Promise<void> {
    this.calls.push(`remove ${app}`);
    this.tables.delete(app);
  }
  metrics(app: string, sinceSecond: number): MetricsBucket[] {
    return [
      {
        second: sinceSecond,
        revisions: [{ revision: 1, requests: app.length, errors5xx: 0, connectFailures: 0, latency: [] }],
      },
    ];
  }
  inflight(_app: string, revision: number): number {
    return revision * 10;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

function table(app: string, version: number, port = 18080): RouteTable {
  return {
    app,
    listen: { host: '127.0.0.1', port },
    version,
    backends: [{ revision: 1, weight: 100, upstreams: [{ host: '127.0.0.1', port: 3001 }] }],
    forceHeader: 'x-rewind-revision',
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error()),
      );
    });
  });
}

describe('AgentServer', () => {
  test('applies, persists, serves and removes routes; re-applies them on restart', async () => {
    const dataDir = path.join(dir, 'routes');
    const paths = agentPaths(dataDir);
    const fake = new FakeDataPlane();
    const server = await AgentServer.start({ dataDir, dataPlane: fake });
    const client = new AgentClient(paths.socket);

    await client.setRoutes(table('shop', 1));
    await client.setRoutes(table('shop', 2));
    await client.setRoutes(table('blog', 1, 18081));
    assert.deepEqual(fake.calls, ['set shop v1', 'set shop v2', 'set blog v1']);
    assert.equal((await client.routes('shop'))?.version, 2);
    assert.equal(await client.routes('nope'), undefined);
    assert.deepEqual(
      (await client.allRoutes()).map((t) => `${t.app} v${t.version}`),
      ['shop v2', 'blog v1'],
    );
    // routes.json is written behind the answers.
    await server.flushRoutes();
    const saved = JSON.parse(readFileSync(paths.routes, 'utf8')) as RouteTable[];
    assert.deepEqual(saved, [table('shop', 2), table('blog', 1, 18081)]);

    assert.deepEqual(await client.metrics('shop', 42), fake.metrics('shop', 42));
    assert.equal(await client.inflight('shop', 3), 30);

    await assert.rejects(client.setRoutes({ ...table('shop', 3), forceHeader: '' }), (error: unknown) => {
      return error instanceof AgentError && error.status === 400 && /forceHeader/.test(error.message);
    });
    const unlucky = { ...table('shop', 4), backends: [{ revision: 13, weight: 100, upstreams: [] }] };
    await assert.rejects(client.setRoutes(unlucky), (error: unknown) => {
      return error instanceof AgentError && error.status === 422 && /unlucky revision/.test(error.message);
    });
    assert.equal((await client.routes('shop'))?.version, 2);
    await assert.rejects(
      client.inflight('', 1),
      (error: unknown) => error instanceof AgentError && error.status === 400,
    );

    await client.deleteRoutes('blog');
    assert.deepEqual(fake.calls.at(-1), 'remove blog');
    assert.deepEqual(
      (await client.allRoutes()).map((t) => t.app),
      ['shop'],
    );

    // Another agent on the same data dir refuses to start while this one answers.
    await assert.rejects(AgentServer.start({ dataDir, dataPlane: new FakeDataPlane() }), AgentAlreadyRunning);

    await server.shutdown();
    assert.equal(fake.closed, true);
    assert.equal(existsSync(paths.socket), false);
    client.close();

    // A stale socket file does not stop the next agent, which re-applies the persisted routes.
    writeFileSync(paths.socket, '');
    const fake2 = new FakeDataPlane();
    const restarted = await AgentServer.start({ dataDir, dataPlane: fake2 });
    const client2 = new AgentClient(paths.socket);
    assert.equal((await client2.routes('shop'))?.version, 2);
    assert.deepEqual(fake2.calls, ['set shop v2']);
    await restarted.shutdown();
    client2.close();
  });

  test('answers 400 to bad JSON, 404 and 405 to unknown routes, 503 without a data plane', async () => {
    const dataDir = path.join(dir, 'errors');
    const server = await AgentServer.start({
      dataDir,
      loadDataPlane: () => Promise.reject(new Error('no proxy here')),
    });
    const raw = (method: string, urlPath: string, body?: string) =>
      new Promise<{ status: number; body: { error?: { code: string; message: string } } }>(
        (resolve, reject) => {
          const req = http.request({ socketPath: server.paths.socket, method, path: urlPath }, (res) => {
            let text = '';
            res.on('data', (chunk: Buffer) => {
              text += chunk.toString();
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
          });
          req.on('error', reject);
          req.end(body);
        },
      );
    const bad = await raw('PUT', '/v1/instances', '{not json');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error?.code, 'bad_request');
    assert.match(bad.body.error?.message ?? '', /invalid JSON/);
    assert.equal((await raw('PUT', '/v1/instances', '')).status, 400);
    assert.equal((await raw('PUT', '/v1/instances', '{"app":"a/b","revision":1}')).status, 400);
    assert.equal((await raw('GET', '/v1/nothing')).status, 404);
    assert.equal((await raw('DELETE', '/v1/info')).body.error?.code, 'method_not_allowed');
    const noPlane = await raw('GET', '/v1/metrics?app=shop');
    assert.equal(noPlane.status, 503);
    assert.match(noPlane.body.error?.message ?? '', /no proxy here/);
    await server.shutdown();
  });

  test('routes through the real data plane, and serves again after an agent restart', async () => {
    const dataDir = path.join(dir, 'real');
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const { client } = await ensureAgent(dataDir, { env, workers: 1 });
    const agentPid = (await client.info()).pid;
    const spec = {
      app: 'web',
      revision: 1,
      index: 0,
      command: apps.server,
      cwd: dir,
      env: {},
      stopTimeoutMs: 500,
    };
    await client.startInstance(spec);
    const instance = await waitFor('Running', async () => {
      const [i] = await client.listInstances('web');
      return i?.phase === 'Running' ? i : undefined;
    });
    const listen = await freePort();
    const routes: RouteTable = {
      app: 'web',
      listen: { host: '127.0.0.1', port: listen },
      version: 1,
      backends: [{ revision: 1, weight: 100, upstreams: [{ host: '127.0.0.1', port: instance.port }] }],
      forceHeader: 'x-rewind-revision',
    };
    await client.setRoutes(routes);
    const first = await httpGet(listen);
    assert.equal(first.status, 200);
    assert.equal(JSON.parse(first.body).pid, instance.pid);
    await waitFor('metrics', async () => {
      const buckets = await client.metrics('web', 0);
      return buckets.some((b) => b.revisions.some((r) => r.revision === 1 && r.requests > 0));
    });
    assert.equal(await client.inflight('web', 1), 0);

    // Restart the agent: the routes come back by themselves, the instance on the same port.
    process.kill(agentPid, 'SIGTERM');
    await waitFor('agent exited', () => processGone(agentPid), 3000);
    client.close();
    const { client: next, adopted } = await ensureAgent(dataDir, { env, workers: 1 });
    assert.equal(adopted, false);
    const nextPid = (await next.info()).pid;
    await next.startInstance(spec);
    const again = await waitFor('Running', async () => {
      const [i] = await next.listInstances('web');
      return i?.phase === 'Running' ? i : undefined;
    });
    assert.equal(again.port, instance.port);
    assert.equal((await next.routes('web'))?.version, 1);
    const served = await waitFor('served', async () => {
      const r = await httpGet(listen);
      return r.status === 200 ? r : undefined;
    });
    assert.equal(JSON.parse(served.body).pid, again.pid);
    await next.shutdown();
    await waitFor('agent exited', () => processGone(nextPid), 3000);
    await assert.rejects(httpGet(listen));
    next.close();
  });
});
