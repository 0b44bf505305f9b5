// What a revision uses, from what the runtime measured of its instances (Runtime.usage): the
// per-second usage the rules judge (`metric: cpu`, `memory`, `logErrors`) and the summary the
// watches read. Pure.
//
// A revision is its instances together. Cores, bytes and lines are summed. The shares depend on
// what the capacity is: on a host the instances share (the process runtime, no limits), the
// revision's share is its sum over the host's cores or memory; with a limit per instance (a
// container's), it is its busiest instance's share of its limit, since that instance is the one
// that runs out.
import type { InstanceUsage, UsageCapacity, UsageRead, UsageSample } from '../../providers/runtime.ts';
import { LOG_ERRORS_WINDOW_SECONDS } from '../../spec/analysis-spec.ts';
import { emptyPoint, type Point, type ResourceUsage } from './series.ts';

/** The usage of the instances of `unit` in one sample; null when none of them is in it. */
export function revisionUsage(
  sample: UsageSample,
  unit: number,
  capacity: UsageCapacity,
): ResourceUsage | null {
  const mine = sample.instances.filter((i) => i.revision === unit);
  if (mine.length === 0) return null;
  const sum = (key: keyof InstanceUsage) => {
    let total: number | null = null;
    for (const i of mine) {
      const v = i[key];
      if (typeof v === 'number') total = (total ?? 0) + v;
    }
    return total;
  };
  const share = (key: 'cpuCores' | 'memoryBytes', of: number): number | null => {
    if (!(of > 0)) return null;
    if (capacity.scope === 'host') {
      const total = sum(key);
      return total === null ? null : total / of;
    }
    let max: number | null = null;
    for (const i of mine) {
      const v = i[key];
      if (v !== null) max = Math.max(max ?? 0, v / of);
    }
    return max;
  };
  return {
    cpu: share('cpuCores', capacity.cpuCores),
    cpuCores: sum('cpuCores'),
    memory: share('memoryBytes', capacity.memoryBytes),
    memoryBytes: sum('memoryBytes'),
    logErrors: sum('logErrors'),
    logLines: sum('logLines'),
  };
}

/** One second of a revision's usage. */
export interface UsagePoint {
  readonly second: number;
  readonly usage: ResourceUsage;
}

/**
 * A read's usage per revision, oldest first: `units` maps the unit whose instances serve a
 * revision to that revision (a rollback's copy is served by the unit it copies).
 */
export function usageByRevision(
  read: UsageRead,
  units: ReadonlyMap<number, number>,
): Map<number, UsagePoint[]> {
  const out = new Map<number, UsagePoint[]>();
  if (read.phase !== 'Successful') return out;
  const sorted = [...read.samples].sort((a, b) => a.second - b.second);
  for (const [unit, revision] of units) {
    const list: UsagePoint[] = [];
    for (const sample of sorted) {
      const usage = revisionUsage(sample, unit, read.capacity);
      if (usage) list.push({ second: sample.second, usage });
    }
    out.set(revision, list);
  }
  return out;
}

/**
 * The points of a revision with its usage added: `points` are the seconds of traffic just read,
 * `held` finds a second the series holds already. A second of usage with no traffic point gets
 * one with no requests and unknown health, so that a rule on CPU judges even when the metrics
 * source has nothing (its health is whatever the traffic read later says).
 */
export function addUsage(
  points: readonly Point[],
  usage: readonly UsagePoint[],
  held: (second: number) => Point | undefined,
): Point[] {
  const bySecond = new Map<number, Point>();
  for (const p of points) {
    const before = held(p.second)?.usage;
    bySecond.set(p.second, p.usage || !before ? p : { ...p, usage: before });
  }
  for (const u of usage) {
    const p = bySecond.get(u.second) ?? held(u.second) ?? { ...emptyPoint(u.second), healthUnknown: true };
    bySecond.set(u.second, { ...p, usage: u.usage });
  }
  return [...bySecond.values()].sort((a, b) => a.second - b.second);
}

/** What the watches read of a revision: its latest usage, and the seconds it comes from. */
export interface RevisionResources {
  /** The unit measured. */
  readonly revision: number;
  /** The newest second measured (unix seconds), null when none was. */
  readonly second: number | null;
  /** Mean CPU share of what the revision may use (0..1) over the newest `seconds` measured. */
  readonly cpu: number | null;
  readonly cpuCores: number | null;
  /** Mean resident memory share (0..1) over the same seconds. */
  readonly memory: number | null;
  readonly memoryBytes: number | null;
  /** Error lines in the minute up to the newest second (fewer seconds when fewer were counted). */
  readonly logErrorsPerMinute: number | null;
  /** What the shares are of; null when the read failed. */
  readonly capacity: UsageCapacity | null;
  /** Every second of the read, oldest first. */
  readonly series: readonly UsagePoint[];
  /** Why nothing is known, when the read failed. */
  readonly error?: string;
}

/** The mean of a key over the points that have it. */
function mean(
  points: readonly UsagePoint[],
  key: 'cpu' | 'cpuCores' | 'memory' | 'memoryBytes',
): number | null {
  let n = 0;
  let total = 0;
  for (const p of points) {
    const v = p.usage[key];
    if (v === null) continue;
    n++;
    total += v;
  }
  return n > 0 ? total / n : null;
}

/**
 * A revision's latest usage from a read: CPU and memory averaged over the newest `seconds` (10 by
 * default) with a reading, error lines over the last minute.
 */
export function summarizeResources(read: UsageRead, unit: number, seconds = 10): RevisionResources {
  const series = usageByRevision(read, new Map([[unit, unit]])).get(unit) ?? [];
  const measured = series.filter((p) => p.usage.cpu !== null || p.usage.memory !== null);
  const newest = series.at(-1)?.second ?? null;
  const recent = measured.slice(-Math.max(1, seconds));
  const lastMinute = series.filter(
    (p) => newest !== null && p.second > newest - LOG_ERRORS_WINDOW_SECONDS && p.usage.logErrors !== null,
  );
  return {
    revision: unit,
    second: measured.at(-1)?.second ?? null,
    cpu: mean(recent, 'cpu'),
    cpuCores: mean(recent, 'cpuCores'),
    memory: mean(recent, 'memory'),
    memoryBytes: mean(recent, 'memoryBytes'),
    logErrorsPerMinute:
      lastMinute.length > 0 ? lastMinute.reduce((n, p) => n + (p.usage.logErrors ?? 0), 0) : null,
    capacity: read.phase === 'Successful' ? read.capacity : null,
    series,
    ...(read.phase === 'Error' && { error: read.error }),
  };
}
