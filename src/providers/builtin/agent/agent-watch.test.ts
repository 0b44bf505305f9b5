// The server's watch over a real agent process: a dead one and a silent one are replaced.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { processGone, tempDir, waitFor } from '../../../../test/support/process-fixtures.ts';
import { silentLogger } from '../../../shared/logger.ts';
import { type AgentClient, type AgentInfo, ensureAgent } from './agent-client.ts';
import { type AgentStatus, AgentWatch } from './agent-watch.ts';

let dir: string;
let remove: () => Promise<void>;
let client: AgentClient;
const env = { ...process.env };
delete env.NODE_TEST_CONTEXT;

before(async () => {
  ({ dir, remove } = await tempDir('rewind-watch-'));
  ({ client } = await ensureAgent(dir, { env, workers: 1 }));
});

after(async () => {
  await client.shutdown().catch(() => {});
  client.close();
  await remove();
});

/** A watch on the data dir's agent, recording every state it passes through and each restart. */
async function watching(options: { hungProbes?: number } = {}) {
  const states: AgentStatus['state'][] = [];
  const restarted: AgentInfo[] = [];
  /** onLost and onRestarted calls in order: the loss is told before a new agent can be observed. */
  const calls: string[] = [];
  const watch = new AgentWatch({
    dataDir: dir,
    client,
    info: await client.info(),
    log: silentLogger,
    ensure: { env, workers: 1 },
    pollMs: 20,
    probeMs: 100,
    ...options,
    onLost: () => {
      calls.push(`lost after ${restarted.length} restarts`);
    },
    onRestarted: async (info) => {
      restarted.push(info);
      calls.push(`restarted ${restarted.length}`);
    },
  });
  const record = setInterval(() => {
    const s = watch.status().state;
    if (states.at(-1) !== s) states.push(s);
  }, 5);
  watch.start();
  return {
    watch,
    states,
    restarted,
    calls,
    async stop() {
      clearInterval(record);
      await watch.stop();
    },
  };
}

test('an agent killed with SIGKILL is replaced at once, and onRestarted runs on the new one', async () => {
  const w = await watching();
  try {
    const first = w.watch.status().pid;
    process.kill(first, 'SIGKILL');
    await waitFor('a new agent', () => w.restarted.length === 1, 30_000);
    const status = w.watch.status();
    assert.equal(status.state, 'up');
    assert.notEqual(status.pid, first);
    assert.equal(status.restarts, 1);
    assert.equal(w.restarted[0]?.pid, status.pid);
    assert.equal((await client.info()).pid, status.pid, 'the same client reaches the new agent');
    assert.ok(w.states.includes('down'), w.states.join(' -> '));
    assert.deepEqual(w.calls, ['lost after 0 restarts', 'restarted 1']);
    assert.ok(processGone(first));
  } finally {
    await w.stop();
  }
});

test('an agent that stops answering is reported, then killed and replaced', async () => {
  const w = await watching({ hungProbes: 3 });
  const silent = w.watch.status().pid;
  try {
    process.kill(silent, 'SIGSTOP');
    await waitFor('unresponsive', () => w.watch.status().state === 'unresponsive', 30_000);
    assert.match(w.watch.status().reason ?? '', /does not answer/);
    await waitFor('a new agent', () => w.restarted.length === 1, 60_000);
    assert.notEqual(w.watch.status().pid, silent);
    await waitFor('the silent one killed', () => processGone(silent), 10_000);
    assert.deepEqual(w.states.slice(0, 3), ['up', 'unresponsive', 'down']);
  } finally {
    try {
      process.kill(silent, 'SIGKILL');
    } catch {}
    await w.stop();
  }
});

test('a stopped watch does not restart an agent that exits (a shutdown is not a death)', async () => {
  const w = await watching();
  await w.stop();
  const pid = w.watch.status().pid;
  await client.shutdown();
  await waitFor('the agent gone', () => processGone(pid), 10_000);
  await new Promise((resolve) => setTimeout(resolve, 300)); // several poll periods: nothing may happen
  assert.equal(w.restarted.length, 0);
  assert.equal(w.watch.status().state, 'up', 'the last state it saw, untouched after stop');
  ({ client } = await ensureAgent(dir, { env, workers: 1 }));
});
