// CPU time of processes from /proc (Linux): user + system, all threads.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const TICK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

function fields(pid: number | string): string[] {
  const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return s.slice(s.lastIndexOf(')') + 2).split(' ');
}

function stat(pid: number | string): { ppid: number; cpuMs: number } {
  const f = fields(pid);
  return { ppid: Number(f[1]), cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / TICK };
}

/** CPU ms used so far by the children this process has waited for (spawnSync's, say), theirs included. */
export function waitedChildrenCpuMs(): number {
  const f = fields('self');
  return ((Number(f[13]) + Number(f[14])) * 1000) / TICK;
}

/** CPU ms used so far by one process; NaN once it is gone. */
export function processCpuMs(pid: number): number {
  try {
    return stat(pid).cpuMs;
  } catch {
    return Number.NaN;
  }
}

/** CPU ms used so far by a process and all its descendants. */
export function treeCpuMs(pid: number): number {
  const stats = new Map<number, { ppid: number; cpuMs: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      stats.set(Number(d), stat(d));
    } catch {}
  }
  let total = 0;
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop() as number;
    total += stats.get(p)?.cpuMs ?? 0;
    for (const [c, s] of stats) if (s.ppid === p) todo.push(c);
  }
  return total;
}
