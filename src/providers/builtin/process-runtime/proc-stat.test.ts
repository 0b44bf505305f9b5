// The process table and the CPU arithmetic over a fake /proc, where each process is a line we write.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tempDir } from '../../../../test/support/process-fixtures.ts';
import { ProcessTable, parseProcStat } from './proc-stat.ts';
import { UsageMonitor } from './usage-monitor.ts';

let dir: string;
let remove: () => Promise<void>;
before(async () => ({ dir, remove } = await tempDir('rewind-proc-')));
after(() => remove());

interface Fake {
  pid: number;
  ppid: number;
  session: number;
  ticks?: number;
  reaped?: number;
  rss?: number;
  start?: string;
  state?: string;
  comm?: string;
}

/** A stat line as Linux writes it: utime=ticks, cutime=reaped, rss in pages. */
function statLine(p: Fake): string {
  const f = [
    p.state ?? 'S',
    p.ppid,
    p.session, // pgrp
    p.session,
    0,
    -1,
    0,
    0,
    0,
    0,
    0,
    p.ticks ?? 0, // utime
    0, // stime
    p.reaped ?? 0, // cutime
    0, // cstime
    20,
    0,
    1,
    0,
    p.start ?? '100', // starttime
    0,
    p.rss ?? 0, // rss
  ];
  return `${p.pid} (${p.comm ?? 'node'}) ${f.join(' ')} 0 0 0\n`;
}

function fakeProc(name: string) {
  const root = path.join(dir, name);
  mkdirSync(root, { recursive: true });
  return {
    root,
    set(p: Fake) {
      mkdirSync(path.join(root, String(p.pid)), { recursive: true });
      writeFileSync(path.join(root, String(p.pid), 'stat'), statLine(p));
    },
    kill(pid: number) {
      rmSync(path.join(root, String(pid)), { recursive: true, force: true });
    },
  };
}

describe('parseProcStat', () => {
  test('a command name with spaces and parentheses', () => {
    const p = parseProcStat(
      7,
      statLine({ pid: 7, ppid: 1, session: 7, ticks: 5, reaped: 2, rss: 9, comm: 'a (b) c' }),
    );
    assert.deepEqual(p, { pid: 7, ppid: 1, session: 7, state: 'S', ticks: 7, startTime: '100', rssPages: 9 });
  });
  test('garbage is null', () => assert.equal(parseProcStat(1, 'nonsense'), null));
});

describe('ProcessTable', () => {
  test("a tree is the root, its descendants and its session's orphans, not the rest of the host", () => {
    const proc = fakeProc('tree');
    proc.set({ pid: 1, ppid: 0, session: 1 });
    proc.set({ pid: 100, ppid: 50, session: 100 }); // the instance: a session leader
    proc.set({ pid: 101, ppid: 100, session: 100 }); // its child
    proc.set({ pid: 102, ppid: 101, session: 100 }); // grandchild
    proc.set({ pid: 103, ppid: 1, session: 100 }); // an orphan re-parented to init
    proc.set({ pid: 104, ppid: 100, session: 104 }); // a child that called setsid
    proc.set({ pid: 200, ppid: 1, session: 200 }); // someone else
    const table = new ProcessTable({ procRoot: proc.root });
    table.scan();
    const tree = table.tree(100)!;
    assert.deepEqual(tree.members.map((m) => m.pid).sort(), [100, 101, 102, 103, 104]);
    assert.equal(table.tree(100, 'another start time'), null, 'a reused pid is another process');
    proc.kill(100);
    table.scan();
    assert.equal(table.tree(100), null);
  });

  test('a process is read once when it appears; only tree members are read again', () => {
    const proc = fakeProc('reads');
    for (let pid = 1; pid <= 50; pid++) proc.set({ pid, ppid: 0, session: pid });
    proc.set({ pid: 100, ppid: 1, session: 100 });
    const table = new ProcessTable({ procRoot: proc.root });
    table.scan();
    table.tree(100);
    const first = table.reads;
    assert.equal(first, 51);
    table.scan();
    table.tree(100);
    assert.equal(table.reads - first, 1, 'the next scan reads the tree alone');
  });
});

describe('UsageMonitor over a fake /proc', () => {
  function monitor(name: string, pids: () => number[]) {
    const proc = fakeProc(name);
    let now = 1_000_000_000_000;
    const m = new UsageMonitor({
      instances: () => pids().map((pid, i) => ({ id: `shop/1/${i}`, revision: 1, pid })),
      retained: () => [],
      procRoot: proc.root,
      now: () => now,
      clockTicks: 100,
      pageSize: 4096,
      capacity: { cpuCores: 2, memoryBytes: 8 * 1024 ** 3, scope: 'host' },
    });
    const second = () => {
      now += 1000;
      m.sample();
      const read = m.read('shop', { sinceSecond: 0 });
      assert.equal(read.phase, 'Successful');
      return read.samples.at(-1)!.instances[0]!;
    };
    return { proc, m, second, start: () => m.read('shop', { sinceSecond: 0 }) };
  }

  test('CPU is the growth of the tree per second; a child reaped in the tree costs nothing twice', () => {
    const { proc, m, second, start } = monitor('reap', () => [100]);
    proc.set({ pid: 100, ppid: 1, session: 100, ticks: 1000, rss: 1000 });
    proc.set({ pid: 101, ppid: 100, session: 100, ticks: 500, rss: 500 });
    start();
    proc.set({ pid: 100, ppid: 1, session: 100, ticks: 1010, rss: 1000 });
    proc.set({ pid: 101, ppid: 100, session: 100, ticks: 550, rss: 500 });
    const a = second();
    assert.equal(a.cpuCores, 0.6);
    assert.equal(a.memoryBytes, 1500 * 4096);
    // The child used 30 more ticks, exited, and its parent reaped it: its 580 ticks move to cutime.
    proc.kill(101);
    proc.set({ pid: 100, ppid: 1, session: 100, ticks: 1020, reaped: 580, rss: 1000 });
    const b = second();
    assert.equal(b.cpuCores, 0.4);
    assert.equal(b.memoryBytes, 1000 * 4096);
    m.close();
  });

  test('an orphan reaped outside the tree does not take the CPU back', () => {
    const { proc, m, second, start } = monitor('orphan', () => [100]);
    proc.set({ pid: 100, ppid: 1, session: 100, ticks: 100 });
    proc.set({ pid: 103, ppid: 1, session: 100, ticks: 900 });
    start();
    proc.set({ pid: 103, ppid: 1, session: 100, ticks: 950 });
    assert.equal(second().cpuCores, 0.5);
    proc.kill(103); // init reaps it: its ticks leave the tree
    proc.set({ pid: 100, ppid: 1, session: 100, ticks: 110 });
    assert.equal(second().cpuCores, 0.1);
    m.close();
  });

  test('a restarted instance starts afresh: no CPU for its first second', () => {
    let pid = 100;
    const { proc, m, second, start } = monitor('restart', () => [pid]);
    proc.set({ pid: 100, ppid: 1, session: 100, ticks: 100 });
    start();
    proc.set({ pid: 100, ppid: 1, session: 100, ticks: 150 });
    assert.equal(second().cpuCores, 0.5);
    proc.kill(100);
    pid = 300;
    proc.set({ pid: 300, ppid: 1, session: 300, ticks: 20 });
    assert.equal(second().cpuCores, null);
    proc.set({ pid: 300, ppid: 1, session: 300, ticks: 40 });
    assert.equal(second().cpuCores, 0.2);
    m.close();
  });

  test('zombies hold no memory', () => {
    const { proc, m, second, start } = monitor('zombie', () => [100]);
    proc.set({ pid: 100, ppid: 1, session: 100, rss: 10 });
    proc.set({ pid: 101, ppid: 100, session: 100, rss: 0, state: 'Z' });
    start();
    assert.equal(second().memoryBytes, 10 * 4096);
    m.close();
  });
});
