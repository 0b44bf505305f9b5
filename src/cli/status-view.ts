// `rewind status` for people: the stable revision, the rollout, the watches, the traffic and the
// instances that matter now.
import type { AppDetail, AppStatus } from '../api/responses.ts';
import { formatDuration } from '../shared/duration.ts';
import { ago, clock, table } from './format.ts';

/** /apps answers the status alone; /apps/:app adds traffic and instances. */
export type AppStatusView = AppStatus & Partial<Pick<AppDetail, 'traffic' | 'instances'>>;
type InstanceView = AppDetail['instances'][number];

/**
 * The instances `rewind status` lists, and how many it leaves out: without `all`, an instance
 * rewind stopped on purpose (phase Stopped) is left out unless its revision is the stable one,
 * takes traffic or is in the rollout. Those are the instances of retired revisions: rewind starts
 * again any instance a revision in play needs, and a crashed or crash-looping one is never
 * Stopped (Backoff, Failed), so it always shows.
 */
export function shownInstances(
  s: AppStatusView,
  all: boolean,
): { shown: readonly InstanceView[]; hidden: number } {
  const list = s.instances ?? [];
  if (all) return { shown: list, hidden: 0 };
  const inPlay = new Set<number | null | undefined>([
    s.stableRevision,
    s.activeRollout?.toRevision,
    s.activeRollout?.fromRevision,
    ...(s.traffic ?? []).map((t) => t.revision),
  ]);
  const shown = list.filter((i) => i.phase !== 'Stopped' || inPlay.has(i.revision));
  return { shown, hidden: list.length - shown.length };
}

function watchLines(w: AppStatusView['watch']): string[] {
  if (!w) return [];
  return [
    `watch: revision ${w.revision}, ${formatDuration(w.leftMs)} left (until ${clock(w.until)}); a breach rolls back to revision ${w.previousRevision}`,
    `  judgment: ${w.judgment ? `${w.judgment.verdict}: ${w.judgment.message}` : 'none yet'}`,
    ...w.rules.map((r) => `  rule ${r.name}: ${r.phase}: ${r.message}`),
  ];
}

function analysisLines(a: AppStatusView['analysis']): string[] {
  if (!a || a.evaluatedAt === null) return [];
  return [
    ...(a.judgment ? [`  judgment: ${a.judgment.verdict}: ${a.judgment.message}`] : []),
    ...a.rules.map((r) => `  rule ${r.name}: ${r.phase}: ${r.message}`),
  ];
}

function steadyWatchLines(w: AppStatusView['steadyWatch']): string[] {
  if (!w) return [];
  return [
    `steady-state watch: revision ${w.revision}, rules marked watch: always${w.evaluatedAt === null ? ' (not evaluated yet)' : ''}`,
    ...w.rules.map((r) => `  rule ${r.name}: ${r.phase}: ${r.message}`),
  ];
}

function maintenanceLines(m: AppStatusView['maintenance']): string[] {
  if (!m) return [];
  const who = m.source === 'auto' ? `rewind (maintenance: auto${m.reason ? `, ${m.reason}` : ''})` : m.by;
  return [
    `MAINTENANCE: on since ${clock(m.since)} (${ago(m.since)}), by ${who}: every request gets 503 with ${m.page === 'default' ? 'the default page' : 'its page'}, Retry-After ${m.retryAfterSeconds}s`,
    ...(m.source === 'manual' && m.reason ? [`  reason: ${m.reason}`] : []),
  ];
}

export function renderStatus(s: AppStatusView, options: { all?: boolean } = {}): string {
  const { shown, hidden } = shownInstances(s, options.all ?? false);
  const lines = [
    `app ${s.name} on ${s.listen}`,
    ...maintenanceLines(s.maintenance),
    `stable: revision ${s.stableRevision ?? '-'} (${s.stableVersion ?? 'none'})`,
    s.activeRollout
      ? `rollout: ${s.activeRollout.kind} to revision ${s.activeRollout.toRevision}, ${s.activeRollout.phase}${s.activeRollout.error ? ` (${s.activeRollout.error})` : ''}`
      : 'rollout: none',
    ...analysisLines(s.analysis),
    ...watchLines(s.watch),
    ...steadyWatchLines(s.steadyWatch),
    s.lastProvenDrill
      ? `way back: proven by drill ${s.lastProvenDrill.id} ${ago(s.lastProvenDrill.startedAt)} (traffic restored in ${Math.round(s.lastProvenDrill.msToTrafficRestored ?? 0)}ms, verified in ${Math.round(s.lastProvenDrill.msToVerified ?? 0)}ms)`
      : `way back: never proven by a drill (rewind drill ${s.name})`,
    `traffic: ${(s.traffic ?? []).map((t) => `revision ${t.revision} ${t.weight}% (${t.upstreams} up)`).join(', ') || 'none'}`,
    '',
    table(
      shown.map((i) => [i.id, i.phase, i.health, i.pid, i.port, i.restarts]),
      ['INSTANCE', 'PHASE', 'HEALTH', 'PID', 'PORT', 'RESTARTS'],
    ),
    ...(hidden > 0
      ? [
          `(${hidden} stopped instance${hidden === 1 ? '' : 's'} of retired revisions not shown: --all lists them)`,
        ]
      : []),
  ];
  return lines.join('\n');
}

/** What `rewind logs` says on stderr when it shows the stable revision's lines by default. */
export function logsNote(s: AppStatus): string {
  if (s.stableRevision === null) return 'no revision serves yet: the lines of every revision';
  const head = `the lines of revision ${s.stableRevision} (${s.stableVersion}, the stable one)`;
  const r = s.activeRollout;
  if (r && r.toRevision !== s.stableRevision)
    return `${head}; revision ${r.toRevision} is rolling out: --revision ${r.toRevision} shows its lines`;
  return `${head}; --revision N shows another, --all every revision`;
}
