import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
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
import { commandName, shellScript } from './shell.ts';
import { ProcessSupervisor, type SupervisorOptions } from './supervisor.ts';

let dir: string;
let remove: () => Promise<void>;
let apps: ReturnType<typeof writeApps>;
const supervisors: ProcessSupervisor[] = [];

before(async () => {
  ({ dir, remove } = await tempDir('rewind-supervisor-'));
  apps = writeApps(dir);
});

after(async () => {
  await Promise.all(supervisors.map((s) => s.shutdown()));
  await remove();
});

let dataDirs = 0;
function supervisor(options: Partial<SupervisorOptions> = {}): ProcessSupervisor {
  const s = new ProcessSupervisor({
    dataDir: path.join(dir, `data-${++dataDirs}`),
    backoffInitialMs: 50,
    readyPollMs: 20,
    warn: () => {},
    ...options,
  });
  supervisors.push(s);
  return s;
}

function spec(overrides: Partial<InstanceSpec> & Pick<InstanceSpec, 'command'>): InstanceSpec {
  return { app: 'shop', revision: 1, index: 0, cwd: dir, env: {}, stopTimeoutMs: 2000, ...overrides };
}

async function running(s: ProcessSupervisor, app: string, revision: number, index = 0) {
  return waitFor(`${app}/${revision}/${index} Running`, () => {
    const instance = s.get(app, revision, index);
    if (instance?.phase === 'Failed') throw new Error(`Failed: ${instance.reason}`);
    return instance?.phase === 'Running' ? instance : undefined;
  });
}

describe('shellScript', () => {
  test('execs simple commands, keeps compound ones', () => {
    assert.equal(shellScript('node server.js'), 'exec node server.js');
    assert.equal(shellScript('  FOO=1 BAR="a b" node x.js '), 'FOO=1 BAR="a b" exec node x.js');
    assert.equal(shellScript("node -e 'a(); b()'"), "exec node -e 'a(); b()'");
    assert.equal(shellScript('exec node x.js'), 'exec node x.js');
    assert.equal(shellScript('cd app && node x.js'), 'cd app && node x.js');
    assert.equal(shellScript('node x.js | tee log'), 'node x.js | tee log');
    assert.equal(shellScript('if true; then node x; fi'), 'if true; then node x; fi');
    assert.equal(commandName('FOO=1 ./server --port 1'), './server');
  });
});

describe('ProcessSupervisor', () => {
  test('starts an instance with PORT and the REWIND_ variables; its pid is the app itself', async () => {
    const s = supervisor();
    const started = await s.start(spec({ command: apps.server, env: { EXTRA: 'x', PORT: 'ignored' } }));
    assert.equal(started.id, 'shop/1/0');
    assert.equal(started.phase, 'Starting');
    assert.ok(started.port > 0);
    const instance = await running(s, 'shop', 1);
    const { status, body } = await httpGet(instance.port);
    assert.equal(status, 200);
    const seen = JSON.parse(body) as Record<string, unknown>;
    assert.deepEqual(seen, {
      pid: instance.pid,
      port: String(instance.port),
      app: 'shop',
      revision: '1',
      instance: '0',
      extra: 'x',
    });
    assert.match(processCmdline(instance.pid!), /server\.cjs/);
    await s.stopRevision('shop', 1);
  });

  test('start is idempotent per (app, revision, index)', async () => {
    const s = supervisor();
    const [a, b] = await Promise.all([
      s.start(spec({ command: apps.server, revision: 2 })),
      s.start(spec({ command: apps.server, revision: 2 })),
    ]);
    assert.equal(a.pid, b.pid);
    const first = await running(s, 'shop', 2);
    const again = await s.start(spec({ command: apps.server, revision: 2 }));
    assert.equal(again.pid, first.pid);
    assert.equal(again.phase, 'Running');
    const other = await s.start(spec({ command: apps.server, revision: 2, index: 1 }));
    assert.notEqual(other.port, first.port);
    assert.equal((await s.list('shop')).length, 2);
    assert.equal((await s.list('nope')).length, 0);
    await s.stopRevision('shop', 2);
  });

  test('restarts a crashed instance with growing backoff on the same port', async () => {
    const s = supervisor({ maxQuickCrashes: 100 });
    const started = await s.start(spec({ command: apps.crash, revision: 3 }));
    const instance = await waitFor('3 restarts', () => {
      const i = s.get('shop', 3, 0);
      return i && i.restarts >= 3 ? i : undefined;
    });
    assert.equal(instance.port, started.port);
    assert.equal(instance.lastExit?.code, 1);
    assert.ok(['Backoff', 'Starting'].includes(instance.phase), instance.phase);
    const lines = await s.logs('shop', { revision: 3, tail: 1000 });
    const starts = lines.filter((l) => l.stream === 'system' && l.line.startsWith('started pid'));
    const delays = lines.filter((l) => l.line.startsWith('restarting in')).map((l) => l.line);
    assert.deepEqual(delays.slice(0, 3), [
      'restarting in 50 ms',
      'restarting in 100 ms',
      'restarting in 200 ms',
    ]);
    assert.ok(starts.length >= 4);
    // Each restart waits at least its backoff after the previous start (which ran ~30 ms).
    const gaps = starts.slice(1, 4).map((l, i) => l.at - starts[i]!.at);
    for (const [i, gap] of gaps.entries()) assert.ok(gap >= 30 + 50 * 2 ** i, `gaps: ${gaps.join(', ')}`);
    await s.stopRevision('shop', 3);
    assert.equal(s.get('shop', 3, 0)?.phase, 'Stopped');
  });

  test('fails after N quick crashes, with the last output in the reason', async () => {
    const s = supervisor({ maxQuickCrashes: 3, backoffInitialMs: 10 });
    await s.start(spec({ command: apps.crash, revision: 4 }));
    const failed = await waitFor('Failed', () => {
      const i = s.get('shop', 4, 0);
      return i?.phase === 'Failed' ? i : undefined;
    });
    assert.equal(failed.restarts, 2);
    assert.equal(failed.pid, null);
    assert.match(failed.reason ?? '', /crashed 3 times in a row \(last exit: code 1\)/);
    assert.match(failed.reason ?? '', /boom/);
  });

  test('a command that is not found fails at once with the reason', async () => {
    const s = supervisor();
    await s.start(spec({ command: 'no-such-command-xyz --port $PORT', revision: 5 }));
    const failed = await waitFor('Failed', () => {
      const i = s.get('shop', 5, 0);
      return i?.phase === 'Failed' ? i : undefined;
    });
    assert.equal(failed.restarts, 0);
    assert.equal(failed.lastExit?.code, 127);
    assert.match(failed.reason ?? '', /^command not found: no-such-command-xyz/);
    assert.match(failed.reason ?? '', /not found/);
  });

  test('a cwd that does not exist fails with the reason', async () => {
    const s = supervisor();
    const instance = await s.start(
      spec({ command: apps.server, revision: 6, cwd: path.join(dir, 'missing') }),
    );
    assert.equal(instance.phase, 'Failed');
    assert.match(instance.reason ?? '', /^cwd does not exist: .*missing/);
    // Starting a Failed instance again retries it.
    const again = await s.start(spec({ command: apps.server, revision: 6 }));
    assert.equal(again.phase, 'Starting');
    await running(s, 'shop', 6);
    await s.stopRevision('shop', 6);
  });

  test('stopRevision sends SIGTERM and resolves once the process exited', async () => {
    const s = supervisor();
    await s.start(spec({ command: apps.server, revision: 7 }));
    await s.start(spec({ command: apps.server, revision: 7, index: 1 }));
    const a = await running(s, 'shop', 7, 0);
    const b = await running(s, 'shop', 7, 1);
    await s.stopRevision('shop', 7);
    assert.ok(processGone(a.pid!));
    assert.ok(processGone(b.pid!));
    const stopped = s.get('shop', 7, 0)!;
    assert.equal(stopped.phase, 'Stopped');
    assert.equal(stopped.pid, null);
    assert.deepEqual(
      { code: stopped.lastExit?.code, signal: stopped.lastExit?.signal },
      { code: 0, signal: null },
    );
    const lines = (await s.logs('shop', { revision: 7 })).map((l) => l.line);
    assert.ok(lines.includes('got SIGTERM'));
    // Stopping again, or a revision that never ran, succeeds.
    await s.stopRevision('shop', 7);
    await s.stopRevision('shop', 99);
  });

  test('a process that ignores SIGTERM is SIGKILLed after stopTimeoutMs', async () => {
    const s = supervisor();
    await s.start(spec({ command: apps.stubborn, revision: 8, stopTimeoutMs: 300 }));
    const instance = await running(s, 'shop', 8);
    const t0 = Date.now();
    await s.stopRevision('shop', 8);
    const elapsed = Date.now() - t0;
    // It waited out the stop timeout, then killed; the upper bound only says "did not hang".
    assert.ok(elapsed >= 290 && elapsed < 10_000, `stopped in ${elapsed} ms`);
    assert.ok(processGone(instance.pid!));
    assert.equal(s.get('shop', 8, 0)?.lastExit?.signal, 'SIGKILL');
    const lines = (await s.logs('shop', { revision: 8 })).map((l) => l.line);
    assert.ok(lines.includes('ignoring SIGTERM'));
  });

  test('captures stdout and stderr line by line, in memory and in the log file', async () => {
    const s = supervisor();
    await s.start(spec({ app: 'logs', command: apps.chatty, revision: 9 }));
    await waitFor('output', async () =>
      (await s.logs('logs', { tail: 1000 })).some((l) => l.line === 'err 4'),
    );
    const all = await s.logs('logs', { tail: 1000 });
    const out = all.filter((l) => l.stream === 'stdout').map((l) => l.line);
    const err = all.filter((l) => l.stream === 'stderr').map((l) => l.line);
    assert.deepEqual(
      out.slice(0, 30),
      Array.from({ length: 30 }, (_, i) => `out ${i}`),
    );
    assert.deepEqual(err, ['err 0', 'err 1', 'err 2', 'err 3', 'err 4']);
    assert.ok(all.every((l) => l.instance === 'logs/9/0'));
    const tail = await s.logs('logs', { revision: 9, tail: 3 });
    assert.equal(tail.length, 3);
    assert.deepEqual(tail, all.slice(-3));
    assert.deepEqual(await s.logs('logs', { revision: 10 }), []);
    await s.stopRevision('logs', 9);
    // The partial last line is flushed when the stream ends.
    assert.ok((await s.logs('logs', { tail: 1000 })).some((l) => l.line === 'no newline at the end'));
    const file = path.join(dir, `data-${dataDirs}`, 'logs', 'logs', '9-0.log');
    const text = readFileSync(file, 'utf8');
    assert.match(text, /stdout out 29\n/);
    assert.match(text, /stderr err 4\n/);
    assert.match(text, /system started pid/);
  });

  test('keeps only the newest lines per instance', async () => {
    const s = supervisor({ logLinesPerInstance: 10 });
    await s.start(spec({ app: 'ring', command: apps.chatty, revision: 1 }));
    await waitFor('output', async () =>
      (await s.logs('ring', { tail: 100 })).some((l) => l.line === 'err 4'),
    );
    const lines = await s.logs('ring', { tail: 100 });
    assert.equal(lines.length, 10);
    assert.equal(lines.at(-1)?.line, 'err 4');
    await s.stopRevision('ring', 1);
  });

  test('a new supervisor on the same data dir reuses ports and kills leftover instances', async () => {
    const first = supervisor({ backoffInitialMs: 60_000 });
    const dataDir = path.join(dir, `data-${dataDirs}`);
    await first.start(spec({ app: 'orphan', command: apps.stubborn, revision: 1, stopTimeoutMs: 100 }));
    const old = await running(first, 'orphan', 1);
    // As if the agent had died and its instance had survived: a new agent sweeps it.
    const second = supervisor({ dataDir });
    await waitFor('leftover killed', () => processGone(old.pid!), 2000);
    await waitFor('first sees the exit', () => first.get('orphan', 1, 0)?.phase === 'Backoff');
    await first.shutdown();
    await second.start(spec({ app: 'orphan', command: apps.stubborn, revision: 1, stopTimeoutMs: 100 }));
    const fresh = await running(second, 'orphan', 1);
    assert.equal(fresh.port, old.port);
    assert.notEqual(fresh.pid, old.pid);
    await second.shutdown();
    assert.ok(processGone(fresh.pid!));
    assert.ok(existsSync(path.join(dataDir, 'supervisor.json')));
    await assert.rejects(second.start(spec({ app: 'orphan', command: apps.server })), /shut down/);
  });
});
