// The moments of a rollout that its charts mark: steps, pauses, decisions and the way back.
import type { RewindEvent } from '../api/types.ts';

export type MarkerKind = 'step' | 'pause' | 'promote' | 'breach' | 'decision' | 'rollback';

export interface Marker {
  readonly at: number;
  readonly kind: MarkerKind;
  readonly label: string;
  readonly detail: string;
}

/** Events marked as they are, by type: their kind and label. */
const FIXED: Readonly<Record<string, readonly [MarkerKind, string]>> = {
  'traffic.switched': ['step', 'switch'],
  'rollout.paused': ['pause', 'paused'],
  'rollout.resumed': ['pause', 'resumed'],
  'rollout.promoted': ['promote', 'promoted'],
  'rollout.completed': ['promote', 'completed'],
  'analysis.breach': ['breach', 'breach'],
  'rollout.aborted': ['decision', 'aborted'],
  'rollback.started': ['rollback', 'rollback'],
  'traffic.switched-back': ['rollback', 'switched back'],
  'rollout.rolledback': ['rollback', 'rolled back'],
  'rollout.failed': ['rollback', 'failed'],
};

/** The kind and label of events whose marker depends on what they say. */
function variable(e: RewindEvent): readonly [MarkerKind, string] | null {
  if (e.type === 'traffic.weight') {
    const weight = (e.data as { weight?: unknown } | null)?.weight;
    return ['step', typeof weight === 'number' ? `${weight}%` : 'weight'];
  }
  if (e.type === 'analysis.decision') return ['decision', /^paus/i.test(e.message) ? 'pause' : 'roll back'];
  // The pause and bake steps say so as they start; the other steps' starts would crowd the chart.
  if (e.type === 'step.started' && /^paus/i.test(e.message)) return ['pause', 'pause'];
  if (e.type === 'step.started' && /^bak/i.test(e.message)) return ['step', 'bake'];
  return null;
}

/** The marker of an event, or null for events the charts leave out (a health check passing...). */
export function markerOf(e: RewindEvent): Marker | null {
  const found = FIXED[e.type] ?? variable(e);
  return found ? { at: e.at, kind: found[0], label: found[1], detail: e.message } : null;
}

export function markersOf(events: readonly RewindEvent[]): Marker[] {
  return events.flatMap((e) => markerOf(e) ?? []);
}
