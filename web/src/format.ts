// How numbers, times and names read on the dashboard: one wording on every page.
import type { RolloutPhase } from './api/types.ts';

/** A share 0..1 as a percentage: 0.3 -> "30%", 0.0123 -> "1.2%", null -> "–". */
export function percent(share: number | null | undefined): string {
  if (share === null || share === undefined || Number.isNaN(share)) return '–';
  const p = share * 100;
  if (p === 0) return '0%';
  if (p < 0.1) return '<0.1%';
  return `${p < 10 && !Number.isInteger(p) ? p.toFixed(1) : Math.round(p)}%`;
}

/** A latency in ms: 0.84 -> "0.84 ms", 12.3 -> "12 ms", 1500 -> "1.5 s", null -> "–". */
export function latency(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '–';
  if (ms < 1) return `${Number(ms.toFixed(2))} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${Number((ms / 1000).toFixed(ms < 10_000 ? 1 : 0))} s`;
}

/** Requests per second: 0 -> "0/s", 3.25 -> "3.3/s", 1234 -> "1.2k/s". */
export function rate(perSecond: number | null | undefined): string {
  if (perSecond === null || perSecond === undefined || Number.isNaN(perSecond)) return '–';
  if (perSecond >= 1000) return `${Number((perSecond / 1000).toFixed(1))}k/s`;
  if (perSecond >= 100 || Number.isInteger(perSecond)) return `${Math.round(perSecond)}/s`;
  return `${Number(perSecond.toFixed(1))}/s`;
}

/** A length of time: 200 -> "200ms", 2000 -> "2s", 90_000 -> "1m 30s", 5_400_000 -> "1h 30m". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m ${s % 60}s` : `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** How long ago `at` was, both unix ms: "just now", "12s ago", "5m ago", "3h ago", "2d ago". */
export function ago(at: number, now: number): string {
  const s = Math.floor((now - at) / 1000);
  if (s < 2) return 'just now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** The time of day, 24 h, in the viewer's zone unless one is given: "14:05:09". */
export function clock(at: number, timeZone?: string): string {
  return new Date(at).toLocaleTimeString('en-GB', { hour12: false, ...(timeZone && { timeZone }) });
}

/** Date and time: "2026-12-03 14:05:09". */
export function dateTime(at: number, timeZone?: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    ...(timeZone && { timeZone }),
  }).format(at);
  return `${parts} ${clock(at, timeZone)}`;
}

/** A rollout's phase in words: "RolledBack" -> "rolled back". */
export function phaseText(phase: RolloutPhase | string): string {
  return phase.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

/** How a phase reads at a glance: good, under way, waiting on a person, or bad. */
export function phaseTone(phase: RolloutPhase | string): 'ok' | 'busy' | 'wait' | 'bad' {
  if (phase === 'Completed') return 'ok';
  if (phase === 'Paused') return 'wait';
  if (phase === 'RollingBack' || phase === 'RolledBack' || phase === 'Failed') return 'bad';
  return 'busy';
}

/** "r3 v2.1": a revision and its version label. */
export function revisionLabel(revision: number, version?: string | null): string {
  return version ? `r${revision} ${version}` : `r${revision}`;
}
