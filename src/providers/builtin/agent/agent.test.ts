// End to end: the agent as a real detached process, driven through AgentClient / ProcessRuntime.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  httpGet,
  processCmdline,
  processGone,
  tempDir,
  waitFor,
  writeApps,
} from '../../../../test/support/process-fixtures.ts';
import type { InstanceSpec } from '../../runtime.ts';
import { ProcessRuntime } from '../process-runtime/process-runtime.ts';
import { type AgentClient, AgentError } from './agent-client.ts';
import { agentPaths } from './paths.ts';

let dir: string;
let remove: () => Promise<void>;
let apps: ReturnType<typeof writeApps>;
const agentPids = new Set<number>();
const env = { ...process.env };
delete env.NODE_TEST_CONTEXT;

before(async () => {
  ({ dir, remove } = await tempDir('rewind-agent-'));
  apps = writeApps(dir);
});

after(async () => {
  for (const pid of agentPids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {}
  }
  await waitFor('agents gone', () => [...agentPids].every(processGone), 5000).catch(() => {});
  await remove();
});

// App names unique to this run: processesOf() scans every process on the machine.
const run = `${process.pid}`;

function spec(app: string, overrides: Partial<InstanceSpec> = {}): InstanceSpec {
  return {
    app: `${app}-${run}`,
    revision: 1,
    index: 0,
    command: apps.server,
    cwd: dir,
    env: {},
    stopTimeoutMs: 500,
    ...overrides,
  };
}

async function connect(dataDir: string) {
  const result = await ProcessRuntime.connect(dataDir, { env, timeoutMs: 10_000 });
  const info = await result.runtime.client.info();
  agentPids.add(info.pid);
  return { ...result, info };
}

async function runningInstance(client: AgentClient, app: string, index = 0) {
  return waitFor(`${app} running`, async () => {
    const instance = (await client.listInstances(app)).find((i) => i.index === index);
    if (instance?.phase === 'Failed') throw new Error(instance.reason ?? 'Failed');
    return instance?.phase === 'Running' ? instance : undefined;
  });
}

/** Pids of live processes whose environment says they belong to the app. */
function processesOf(app: string): number[] {
  const pids: number[] = [];
  app = `${app}-${run}`;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (environ.includes(`REWIND_APP=${app}`) && !processGone(Number(entry))) pids.push(Number(entry));
    } catch {}
  }
  return pids;
}

describe('agent', () => {
  test('ensureAgent starts a detached agent that a new controller adopts with its instances', async () => {
    const dataDir = path.join(dir, 'adopt');
    const paths = agentPaths(dataDir);
    const first = await connect(dataDir);
    assert.equal(first.adopted, false);
    assert.notEqual(first.info.pid, process.pid);
    assert.equal(first.info.dataDir, paths.dataDir);
    assert.equal(typeof first.info.version, 'string');
    assert.equal(readFileSync(paths.pid, 'utf8').trim(), String(first.info.pid));
    assert.equal(statSync(paths.socket).mode & 0o777, 0o600);
    assert.match(processCmdline(first.info.pid), /main\.ts --data-dir/);

    await first.runtime.start(spec('adopt', { env: { EXTRA: 'e' } }));
    const instance = await runningInstance(first.runtime.client, `adopt-${run}`);
    assert.equal(JSON.parse((await httpGet(instance.port)).body).extra, 'e');

    // The controller goes away (drops its connection); a new one adopts the same agent and instance.
    first.runtime.close();
    const second = await connect(dataDir);
    assert.equal(second.adopted, true);
    assert.equal(second.info.pid, first.info.pid);
    const [adopted] = await second.runtime.list(`adopt-${run}`);
    assert.equal(adopted?.pid, instance.pid);
    assert.equal(adopted?.phase, 'Running');
    assert.equal((await httpGet(instance.port)).status, 200);
    const again = await second.runtime.start(spec('adopt', { env: { EXTRA: 'e' } }));
    assert.equal(again.pid, instance.pid);

    const logs = await second.runtime.logs(`adopt-${run}`, { revision: 1, tail: 50 });
    assert.ok(logs.some((l) => l.stream === 'stdout' && l.line === `listening on ${instance.port}`));

    // A second agent on the same data dir refuses to start.
    const { spawnSync } = await import('node:child_process');
    const refused = spawnSync(
      process.execPath,
      [path.join(import.meta.dirname, 'main.ts'), '--data-dir', dataDir],
      {
        env,
        encoding: 'utf8',
        timeout: 10_000,
      },
    );
    assert.equal(refused.status, 3, refused.stdout + refused.stderr);
    assert.match(refused.stdout, /already serves/);
    assert.equal((await second.runtime.client.info()).pid, first.info.pid);

    await second.runtime.stopRevision(`adopt-${run}`, 1);
    assert.ok(processGone(instance.pid!));
    assert.equal((await second.runtime.list(`adopt-${run}`))[0]?.phase, 'Stopped');

    // Shutdown stops everything and the agent exits, leaving nothing behind.
    await second.runtime.start(spec('adopt', { revision: 2 }));
    await second.runtime.start(spec('adopt', { revision: 2, index: 1, command: apps.stubborn }));
    const r2 = await runningInstance(second.runtime.client, `adopt-${run}`, 1);
    assert.equal(processesOf('adopt').length, 2);
    await second.runtime.client.shutdown();
    await waitFor('agent exited', () => processGone(first.info.pid), 3000);
    assert.ok(processGone(r2.pid!));
    assert.deepEqual(processesOf('adopt'), []);
    assert.equal(existsSync(paths.socket), false);
    assert.equal(existsSync(paths.pid), false);
    second.runtime.close();
  });

  test("usage travels through the agent: the instance's memory, error lines by the app's pattern", async () => {
    const dataDir = path.join(dir, 'usage');
    const { runtime, info } = await connect(dataDir);
    const app = `usage-${run}`;
    await runtime.start(spec('usage', { command: apps.chatty }));
    const totals = await waitFor(
      'the error lines of a complete second, and a memory reading',
      async () => {
        const read = await runtime.usage(app, { sinceSecond: 0, errorPattern: '^err \\d' });
        if (read.phase !== 'Successful') throw new Error(read.error);
        const all = read.samples.flatMap((x) => x.instances);
        const sum = (f: (i: (typeof all)[number]) => number | null) =>
          all.reduce((n, i) => n + (f(i) ?? 0), 0);
        const t = {
          errors: sum((i) => i.logErrors),
          lines: sum((i) => i.logLines),
          memory: sum((i) => i.memoryBytes),
        };
        return t.errors === 5 && t.memory > 0 && t;
      },
      10_000,
      200,
    );
    assert.equal(totals.lines, 35);
    await runtime.client.shutdown();
    await waitFor('agent exited', () => processGone(info.pid), 3000);
    runtime.close();
  });

  test('when the agent is SIGKILLed its instances die with it (pdeathsig)', async () => {
    const dataDir = path.join(dir, 'kill9');
    const { runtime, info } = await connect(dataDir);
    await runtime.start(spec('kill9', { index: 0 }));
    await runtime.start(spec('kill9', { index: 1 }));
    const a = await runningInstance(runtime.client, `kill9-${run}`, 0);
    const b = await runningInstance(runtime.client, `kill9-${run}`, 1);
    process.kill(info.pid, 'SIGKILL');
    const t0 = Date.now();
    await waitFor('instances gone', () => processGone(a.pid!) && processGone(b.pid!), 1000, 10);
    assert.ok(Date.now() - t0 < 1000);
    assert.deepEqual(processesOf('kill9'), []);

    // A new agent takes over the stale socket and pid file; the controller restarts the
    // instances, on the same ports.
    const next = await connect(dataDir);
    assert.equal(next.adopted, false);
    assert.notEqual(next.info.pid, info.pid);
    assert.deepEqual(await next.runtime.list(`kill9-${run}`), []);
    await next.runtime.start(spec('kill9', { index: 0 }));
    const restarted = await runningInstance(next.runtime.client, `kill9-${run}`, 0);
    assert.equal(restarted.port, a.port);
    await next.runtime.client.shutdown();
    await waitFor('agent exited', () => processGone(next.info.pid), 3000);
    assert.deepEqual(processesOf('kill9'), []);
    runtime.close();
    next.runtime.close();
  });

  test('an instance that ignores SIGTERM still dies with a SIGKILLed agent (pdeathsig is SIGKILL)', async () => {
    const dataDir = path.join(dir, 'stubborn');
    const { runtime, info } = await connect(dataDir);
    await runtime.start(spec('stubborn', { command: apps.stubborn }));
    const instance = await runningInstance(runtime.client, `stubborn-${run}`);
    process.kill(info.pid, 'SIGKILL');
    await waitFor('agent gone', () => processGone(info.pid), 1000);
    await waitFor('instance gone with its agent', () => processGone(instance.pid!), 1000);
    assert.deepEqual(processesOf('stubborn'), []);
    runtime.close();
  });

  test('SIGTERM shuts the agent down gracefully; errors carry the agent message', async () => {
    const dataDir = path.join(dir, 'sigterm');
    const { runtime, info } = await connect(dataDir);
    const client = runtime.client;
    await assert.rejects(
      client.startInstance({ app: 'x' } as unknown as InstanceSpec),
      (error: unknown) =>
        error instanceof AgentError &&
        error.status === 400 &&
        error.code === 'bad_request' &&
        /command/.test(error.message),
    );
    await assert.rejects(
      client.logs(''),
      (error: unknown) => error instanceof AgentError && error.status === 400,
    );
    await runtime.start(spec('sigterm', { cwd: path.relative(process.cwd(), dir) }));
    const instance = await runningInstance(client, `sigterm-${run}`);
    process.kill(info.pid, 'SIGTERM');
    await waitFor('agent exited', () => processGone(info.pid), 3000);
    assert.ok(processGone(instance.pid!));
    assert.equal(existsSync(agentPaths(dataDir).socket), false);
    await assert.rejects(
      client.info(),
      (error: unknown) => error instanceof AgentError && error.status === 0,
    );
    assert.match(readFileSync(agentPaths(dataDir).log, 'utf8'), /SIGTERM: shutting down/);
    client.close();
  });
});
