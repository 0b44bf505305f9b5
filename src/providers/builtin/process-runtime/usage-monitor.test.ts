// What instances use, measured on real processes: a spinning child of a shell wrapper, a process
// that grows by 200 MB, one that writes error lines; and nothing measured once nobody reads.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tempDir, waitFor } from '../../../../test/support/process-fixtures.ts';
import type { InstanceSpec, InstanceUsage, UsageRead } from '../../runtime.ts';
import { ProcessSupervisor } from './supervisor.ts';

let dir: string;
let remove: () => Promise<void>;
const supervisors: ProcessSupervisor[] = [];
const node = `'${process.execPath}'`;

before(async () => {
  ({ dir, remove } = await tempDir('rewind-usage-'));
  const apps: Record<string, string> = {
    // Listens and idles; on SIGUSR2 allocates 200 MB, writes to every page, and holds it.
    idle: `
      const held = [];
      process.on('SIGUSR2', () => { held.push(Buffer.alloc(200 * 1024 * 1024, 1)); console.log('grown'); });
      require('node:http').createServer((q, r) => r.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');
    `,
    spin: 'for (;;) {}',
    // 20 error lines and 20 others per second, JSON as pino writes them.
    errors: `
      require('node:http').createServer((q, r) => r.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');
      setInterval(() => {
        console.error(JSON.stringify({ level: 50, msg: 'payment failed' }));
        console.log(JSON.stringify({ level: 30, msg: 'ok' }));
      }, 50);
    `,
  };
  for (const [name, source] of Object.entries(apps)) writeFileSync(path.join(dir, `${name}.cjs`), source);
});

after(async () => {
  await Promise.all(supervisors.map((s) => s.shutdown()));
  await remove();
});

function supervisor(): ProcessSupervisor {
  const s = new ProcessSupervisor({
    dataDir: path.join(dir, `data-${supervisors.length}`),
    readyPollMs: 20,
    warn: () => {},
    usage: { leaseMs: 1500 },
  });
  supervisors.push(s);
  return s;
}

function spec(command: string, revision = 1, index = 0): InstanceSpec {
  return { app: 'shop', revision, index, command, cwd: dir, env: {}, stopTimeoutMs: 2000 };
}

/** CPU seconds a process has used (utime + stime, 100 ticks a second). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Pids whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'latin1');
        return /^\d+$/.test(d) && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Waits until the instance wrote lines in a second that is over. */
function linesOfAPastSecond(s: ProcessSupervisor) {
  return waitFor('lines of a past second in the log', async () =>
    (await s.logs('shop', {})).some(
      (l) => l.stream !== 'system' && l.at < Math.floor(Date.now() / 1000) * 1000,
    ),
  );
}

/** The instance's newest complete second, read through the runtime seam. */
async function latest(s: ProcessSupervisor, id: string): Promise<InstanceUsage | undefined> {
  const read: UsageRead = await s.usage('shop', { sinceSecond: 0 });
  assert.equal(read.phase, 'Successful', read.phase === 'Error' ? read.error : '');
  for (const sample of [...read.samples].reverse()) {
    const mine = sample.instances.find((i) => i.instance === id && i.cpuCores !== null);
    if (mine) return mine;
  }
  return undefined;
}

describe('usage of the process runtime', () => {
  test('a shell wrapper whose child spins reads above half a core (what it got, on a loaded box); an idle instance reads near 0', async () => {
    const s = supervisor();
    // A compound command line: the shell starts the spinning child, then becomes the server.
    const wrapper = await s.start(spec(`${node} spin.cjs & exec ${node} idle.cjs`, 1, 0));
    await s.start(spec(`${node} idle.cjs`, 2, 0));
    const spinner = await waitFor('the spinning child', () => childrenOf(wrapper.pid!)[0]);
    // What the tree really used over whole seconds, read straight from /proc by the test.
    await latest(s, 'shop/1/0');
    const t0 = Date.now();
    const c0 = cpuSeconds(wrapper.pid!) + cpuSeconds(spinner);
    const from = Math.ceil(t0 / 1000);
    const seconds = await waitFor(
      'six measured seconds of the busy instance',
      async () => {
        const read = await s.usage('shop', { sinceSecond: from });
        const mine = read.samples.flatMap((x) => x.instances.filter((i) => i.instance === 'shop/1/0'));
        return mine.length >= 6 && mine;
      },
      15_000,
      100,
    );
    const independent = (cpuSeconds(wrapper.pid!) + cpuSeconds(spinner) - c0) / ((Date.now() - t0) / 1000);
    const measured = seconds.reduce((n, i) => n + i.cpuCores!, 0) / seconds.length;
    assert.ok(
      Math.abs(measured - independent) < 0.2,
      `measured ${measured} cores, /proc says ${independent}`,
    );
    // Half a core at least, unless the box is so loaded that the spinner got less.
    assert.ok(measured > 0.5 || independent < 0.55, `measured ${measured} cores, /proc says ${independent}`);
    assert.ok(measured <= 1.2, `one spinning thread is about one core, not ${measured}`);
    await waitFor(
      'the idle instance below 0.05 core',
      async () => {
        const u = await latest(s, 'shop/2/0');
        return u && u.cpuCores! < 0.05;
      },
      15_000,
      200,
    );
    const read = await s.usage('shop', { sinceSecond: 0 });
    assert.equal(read.phase, 'Successful');
    if (read.phase !== 'Successful') return;
    assert.equal(read.capacity.scope, 'host');
    assert.ok(read.capacity.cpuCores >= 1 && read.capacity.memoryBytes > 0);
  });

  test('memory of an instance that allocates and holds 200 MB rises by about that', async () => {
    const s = supervisor();
    const started = await s.start(spec(`${node} idle.cjs`));
    const first = await waitFor('a memory reading', () => latest(s, 'shop/1/0'), 10_000, 100);
    process.kill(started.pid!, 'SIGUSR2');
    const grown = await waitFor(
      'memory 180 MB above the first reading',
      async () => {
        const u = await latest(s, 'shop/1/0');
        return u && u.memoryBytes! - first.memoryBytes! > 180 * 1024 * 1024 && u;
      },
      15_000,
      200,
    );
    assert.ok(grown.memoryBytes! - first.memoryBytes! < 260 * 1024 * 1024, `${grown.memoryBytes}`);
  });

  test('error lines are counted per second, with the lines written before the first read', async () => {
    const s = supervisor();
    await s.start(spec(`${node} errors.cjs`));
    // Lines written before anyone reads are held by the supervisor and counted on the first read.
    await linesOfAPastSecond(s);
    const first = await s.usage('shop', { sinceSecond: 0 });
    assert.equal(first.phase, 'Successful');
    const backfilled = first.samples.flatMap((x) => x.instances).reduce((n, i) => n + (i.logErrors ?? 0), 0);
    assert.ok(backfilled > 0, 'the lines held before the first read are counted');
    const counted = await waitFor(
      'a full second of the instance counted live',
      async () => {
        const read = await s.usage('shop', { sinceSecond: 0 });
        const seconds = read.samples.filter((x) => x.instances.some((i) => i.cpuCores !== null));
        // The second after the first live one is whole.
        return seconds.length >= 3 && seconds.at(-1)!.instances[0];
      },
      10_000,
      200,
    );
    // 20 a second, give or take a timer's drift across the second's edges.
    assert.ok(counted.logErrors! >= 15 && counted.logErrors! <= 25, `${counted.logErrors} errors`);
    assert.ok(counted.logLines! >= 30 && counted.logLines! <= 50, `${counted.logLines} lines`);
  });

  test('an app pattern counts its own lines', async () => {
    const s = supervisor();
    await s.start(spec(`${node} errors.cjs`));
    await linesOfAPastSecond(s);
    const read = await s.usage('shop', { sinceSecond: 0, errorPattern: '"msg":"ok"' });
    assert.equal(read.phase, 'Successful');
    const instances = read.samples.flatMap((x) => x.instances);
    const errors = instances.reduce((n, i) => n + (i.logErrors ?? 0), 0);
    const lines = instances.reduce((n, i) => n + (i.logLines ?? 0), 0);
    assert.ok(errors > 0 && errors < lines, `${errors} of ${lines}`);
  });

  test('nothing is measured once nobody reads: the timer stops after the lease', async () => {
    const s = supervisor();
    await s.start(spec(`${node} idle.cjs`));
    assert.equal(s.measuringUsage, false, 'nothing before the first read');
    await s.usage('shop', { sinceSecond: 0 });
    assert.equal(s.measuringUsage, true);
    await waitFor('the timer to stop after the 1.5 s lease', () => !s.measuringUsage, 5000, 50);
  });

  test('a pattern that does not compile is an Error read, not an exception', async () => {
    const s = supervisor();
    const read = await s.usage('other', { sinceSecond: 0, errorPattern: '(' });
    assert.equal(read.phase, 'Error');
  });
});
