// An app's traffic split and health in a few characters, as the apps page shows them.
import type { AppDetail } from '../api/types.ts';

export interface Share {
  readonly revision: number;
  readonly weight: number;
}

/** The revisions with traffic, the stable one first, then the others in revision order. */
export function trafficSplit(traffic: AppDetail['traffic'], stable: number | null): Share[] {
  return traffic
    .filter((t) => t.weight > 0)
    .map((t) => ({ revision: t.revision, weight: t.weight }))
    .sort((a, b) => Number(b.revision === stable) - Number(a.revision === stable) || a.revision - b.revision);
}

/** "100%", "70% / 30%"; "no traffic" when nothing is routed. */
export function trafficText(split: readonly Share[]): string {
  if (split.length === 0) return 'no traffic';
  return split.map((s) => `${Math.round(s.weight * 10) / 10}%`).join(' / ');
}

export interface Health {
  readonly healthy: number;
  readonly total: number;
}

/**
 * How many of the app's running instances are healthy: those of the serving revisions and those
 * kept warm for a way back alike (a rollback's copy of a revision runs on that revision's
 * instances, so instances are not matched to the traffic's revisions).
 */
export function healthOf(instances: AppDetail['instances']): Health {
  const running = instances.filter((i) => i.phase !== 'Stopped');
  return { healthy: running.filter((i) => i.health === 'Healthy').length, total: running.length };
}

/** The app's state in a word or two when no rollout runs: what watches its stable revision. */
export function steadyText(detail: Pick<AppDetail, 'stableRevision' | 'watch' | 'steadyWatch'>): string {
  if (detail.stableRevision === null) return 'no revision';
  if (detail.watch) return 'stable, watched';
  return 'stable';
}

/** How a revision is coloured on charts: the one serving before, the one rolling out, or another. */
export function revisionTone(
  revision: number,
  stable: number | null,
  candidate: number | null,
): 'stable' | 'canary' | 'other' {
  if (revision === candidate) return 'canary';
  if (revision === stable) return 'stable';
  return 'other';
}
