// Every event type the timeline can hold: one catalogue, so a name is checked where it is written
// and readers (the CLI, the report, notifications) match on names that exist.

export const EVENT_TYPES = [
  'deploy.started',
  'rollback.started',
  'rollout.paused',
  'rollout.resumed',
  'rollout.promoted',
  'rollout.completed',
  'rollout.failed',
  'rollout.aborted',
  'rollout.rolledback',
  'rollout.verified',
  'rollout.verify-failed',
  'step.started',
  'step.completed',
  'step.failed',
  'traffic.switched',
  'traffic.switched-back',
  'traffic.weight',
  'revision.retiring',
  'revision.stopped',
  'analysis.breach',
  'analysis.decision',
  'watch.started',
  'watch.passed',
  'watch.ended',
  'verify.passed',
  'verify.failed',
  'check.passed',
  'check.failed',
  'hook.passed',
  'hook.failed',
  'database.migrations',
  'database.expanded',
  'database.contracted',
  'database.undone',
  'database.failed',
  'flags.changed',
  'flags.killSwitch',
  'flags.killSwitchFailed',
  'incident.opened',
  'incident.verifying',
  'incident.escalated',
  'incident.resolved',
  'drill.started',
  'drill.passed',
  'drill.failed',
  'maintenance.on',
  'maintenance.off',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

const FINISHED = {
  Completed: 'rollout.completed',
  Failed: 'rollout.failed',
  RolledBack: 'rollout.rolledback',
} as const satisfies Record<string, EventType>;

/** The event a rollout writes when it ends in `phase`. */
export function rolloutPhaseEvent(phase: keyof typeof FINISHED): EventType {
  return FINISHED[phase];
}
