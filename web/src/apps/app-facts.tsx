// The facts of an app that the apps page and the app page both show, each once: its stable
// revision, its phase, its traffic split and its health.
import type { AppDetail } from '../api/types.ts';
import { phaseText, phaseTone, revisionLabel } from '../format.ts';
import { Badge, Fact } from '../ui/bits.tsx';
import { healthOf, steadyText, trafficSplit, trafficText } from './traffic.ts';

export function StableFact({ detail }: { detail: AppDetail }) {
  const stable = detail.stableRevision;
  return (
    <Fact label="Stable">{stable === null ? 'none yet' : revisionLabel(stable, detail.stableVersion)}</Fact>
  );
}

/** The active rollout's phase, or what watches the stable revision (`data-testid=phase-{app}`). */
export function AppPhase({ detail }: { detail: AppDetail }) {
  const rollout = detail.activeRollout;
  return (
    <Badge tone={rollout ? phaseTone(rollout.phase) : 'ok'} testId={`phase-${detail.name}`}>
      {rollout ? phaseText(rollout.phase) : steadyText(detail)}
    </Badge>
  );
}

/**
 * "70% / 30%", then which revisions; the split alone is `data-testid=traffic-{app}`, the text the
 * browser stories and bench/dashboard.ts watch change.
 */
export function TrafficFact({ detail }: { detail: AppDetail }) {
  const split = trafficSplit(detail.traffic, detail.stableRevision);
  return (
    <Fact label="Traffic">
      <span data-testid={`traffic-${detail.name}`}>{trafficText(split)}</span>
      <span className="quiet"> {split.map((s) => `r${s.revision}`).join(' / ')}</span>
    </Fact>
  );
}

/** Healthy instances of the app, of those running. */
export function HealthFact({ detail }: { detail: AppDetail }) {
  const health = healthOf(detail.instances);
  return (
    <Fact label="Instances">
      <Badge tone={health.total > 0 && health.healthy === health.total ? 'ok' : 'bad'}>
        {health.healthy}/{health.total} healthy
      </Badge>
    </Fact>
  );
}
