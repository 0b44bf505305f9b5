// The runbook's first rollback trigger: "application crashes or fails health checks after
// deployment". A release whose process exits while it is analysed is rolled back at once (P0):
// its errors are few (the requests in flight, and the connections refused while it restarts,
// which the proxy retries elsewhere), so waiting for the error rate or the judgment to see them
// takes seconds to minutes, or never happens before the crash loop gives up.
import type { Rule } from '../../spec/analysis-spec.ts';
import type { RuleVerdict } from './assess-rule.ts';

/** What the runtime says of one instance's life (a subset of providers' Instance). */
export interface InstanceLife {
  readonly id: string;
  readonly phase: string;
  readonly restarts: number;
  readonly lastExit: {
    readonly code: number | null;
    readonly signal: string | null;
    readonly at: number;
  } | null;
}

export const CRASH_RULE: Rule = {
  name: 'crashed',
  metric: 'healthFailing',
  direction: 'above',
  threshold: { kind: 'absolute', value: 0 },
  for: 0,
  minSample: 0,
  severity: 'P0',
};

/** Restart counts of the instances when the analysis began: crashes are counted from there. */
export function restartCounts(instances: readonly InstanceLife[]): Map<string, number> {
  return new Map(instances.map((i) => [i.id, i.restarts]));
}

/**
 * One P0 verdict when an instance crashed since `seen` was taken: it was restarted since (more
 * restarts than then; an instance that was not there counts from 0), or restarted after an exit
 * at or after `since` (the rollout began: a crash before the first look counts too), it is
 * waiting to restart (Backoff), or it exited and is Failed (it crashed too often to be
 * restarted). An agent that restarts starts its instances afresh (0 restarts, no exit): that is
 * not a crash of the release.
 */
export function crashVerdicts(
  instances: readonly InstanceLife[],
  seen: ReadonlyMap<string, number>,
  now: number,
  since: number = Number.POSITIVE_INFINITY,
): RuleVerdict[] {
  const crashed = instances.filter(
    (i) =>
      i.restarts > (seen.get(i.id) ?? 0) ||
      (i.restarts > 0 && i.lastExit !== null && i.lastExit.at >= since) ||
      i.phase === 'Backoff' ||
      (i.phase === 'Failed' && i.lastExit !== null),
  );
  if (crashed.length === 0) return [];
  const first = crashed[0]!;
  const exit = first.lastExit;
  const how = exit
    ? exit.code !== null
      ? `exited with code ${exit.code}`
      : `was killed by ${exit.signal}`
    : 'crashed';
  const ago = exit ? ` ${Math.max(0, (now - exit.at) / 1000).toFixed(1)}s ago` : '';
  const restarts = first.restarts - (seen.get(first.id) ?? 0);
  const parts = [`instance ${first.id} ${how}${ago}`];
  if (restarts > 0) parts.push(`restarted ${restarts} time(s) since the analysis began`);
  if (first.phase === 'Backoff') parts.push('waiting to restart');
  if (first.phase === 'Failed') parts.push('given up on after too many crashes');
  if (crashed.length > 1) parts.push(`${crashed.length - 1} more instance(s) too`);
  const from = exit?.at ?? now;
  return [
    {
      rule: CRASH_RULE,
      phase: 'Breach',
      observed: crashed.length,
      threshold: 0,
      breachingSince: from,
      window: { from, to: now },
      sample: instances.length,
      message: `${parts.join(', ')}: the runbook's "application crashes after deployment"; no wait (P0)`,
    },
  ];
}
