// What a person may do to a rollout in progress, by its state: the buttons of the rollout and app
// pages (who may press them is session/permissions.ts).
import type { Rollout, RolloutState } from '../api/types.ts';

export type RolloutCommand = 'promote' | 'pause' | 'resume' | 'abort';

/** The route each command posts to, as ROUTE_POLICIES names it. */
export const COMMAND_ROUTES: Readonly<Record<RolloutCommand, string>> = {
  promote: 'POST /api/v1/apps/{app}/promote',
  pause: 'POST /api/v1/apps/{app}/pause',
  resume: 'POST /api/v1/apps/{app}/resume',
  abort: 'POST /api/v1/apps/{app}/abort',
};

const FINISHED: readonly string[] = ['Completed', 'RolledBack', 'Failed'];

/**
 * A deploy that is not turning around may be promoted and aborted; paused when it is not, and
 * resumed when a person or a P2 breach paused it (a pause step waits for promote instead).
 */
export function commandsFor(
  rollout: Pick<Rollout, 'kind' | 'phase'> & { readonly state: unknown },
): RolloutCommand[] {
  const state = rollout.state as RolloutState;
  if (rollout.kind !== 'deploy' || FINISHED.includes(rollout.phase) || state.compensation) return [];
  const commands: RolloutCommand[] = ['promote'];
  if (state.paused) commands.push('resume');
  else if (rollout.phase !== 'Paused') commands.push('pause');
  commands.push('abort');
  return commands;
}
