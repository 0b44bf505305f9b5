// Shared by the commands that start a rollout: follow it to its end and exit with a code a CI
// pipeline can act on; and the small printing helpers every command uses.
import { InvalidArgumentError } from 'commander';
import type { Event, Rollout } from '../api/responses.ts';
import { formatDuration } from '../shared/duration.ts';
import type { RolloutState } from '../spec/rollout-state.ts';
import type { ApiClient } from './api-client.ts';
import { EXIT } from './exit-codes.ts';
import { clock } from './format.ts';
import { LiveLine } from './live-line.ts';

const TERMINAL = new Set(['Completed', 'RolledBack', 'Failed']);

export const keyValue = (value: string, acc: Record<string, string>) => {
  const eq = value.indexOf('=');
  if (eq < 1) throw new InvalidArgumentError(`--env takes KEY=VALUE, got "${value}"`);
  return { ...acc, [value.slice(0, eq)]: value.slice(eq + 1) };
};
export const print = (text: string): void => {
  process.stdout.write(`${text}\n`);
};
export const json = (data: unknown): void => print(JSON.stringify(data, null, 2));

/**
 * A rollout in one line, as `abort`, `pause` and `resume` print it (the phase read back after the
 * command took effect). A rollout still Paused with no pause by hand waits at a pause step of its
 * strategy: the line says so, and that `promote` goes on.
 */
export function rolloutLine(r: Rollout, now = Date.now()): string {
  const head = `${r.kind} to revision ${r.toRevision}: ${r.phase}${r.error ? ` (${r.error})` : ''}`;
  const state = r.state as Partial<RolloutState> | null;
  const step = state?.steps?.[state.index ?? 0];
  if (r.phase !== 'Paused' || state?.paused || step?.name !== 'pause') return head;
  const promote = `rewind promote ${r.app}`;
  if (step.durationMs == null) return `${head} at a pause step that waits for ${promote}`;
  const left = Math.max(0, (state?.stepStartedAt ?? now) + step.durationMs - now);
  return `${head} at a pause step of ${formatDuration(step.durationMs)}, ${formatDuration(left)} left (${promote} goes on now)`;
}

export async function followRollout(
  api: ApiClient,
  rollout: Rollout,
  opts: { wait?: boolean; watch?: boolean; json?: boolean; timeout: number; rolledBackIsSuccess?: boolean },
) {
  if (!opts.wait && !opts.watch) {
    if (opts.json) return json(rollout);
    print(`${rollout.kind} ${rollout.id}: revision ${rollout.toRevision}, ${rollout.phase}`);
    print(`follow it with: rewind status ${rollout.app} --watch`);
    return;
  }
  const deadline = Date.now() + opts.timeout * 1000;
  let after = 0;
  let current = rollout;
  // On a terminal, a line under the step lines shows the traffic, rates and analysis as they go.
  const live = !opts.json && process.stdout.isTTY === true ? new LiveLine(api, rollout.app) : null;
  /** Prints new events and polls the rollout until `done`; false when `until` passed first. */
  const printNew = async () => {
    const events = await api.get<Event[]>(`/rollouts/${current.id}/events?after=${after}`);
    if (events.length && !opts.json) live?.clear();
    for (const e of events) {
      after = e.id;
      if (!opts.json) print(`${clock(e.at)}  ${e.message}`);
    }
    if (events.length) live?.redraw();
  };
  const follow = async (done: (r: Rollout) => boolean, until: number, pollMs: number) => {
    for (;;) {
      await printNew();
      current = await api.get<Rollout>(`/rollouts/${current.id}`);
      if (done(current)) {
        // What was journalled between the events read above and this end.
        await printNew();
        live?.end();
        return true;
      }
      if (Date.now() > until) {
        live?.end();
        return false;
      }
      await live?.refresh();
      await new Promise((r) => setTimeout(r, pollMs));
    }
  };
  const timedOut = (message: string) => {
    if (opts.json) json({ ...current, timedOut: true });
    else print(message);
    process.exitCode = EXIT.TIMEOUT;
  };
  if (!(await follow((r) => TERMINAL.has(r.phase), deadline, 200)))
    return timedOut(`still ${current.phase} after ${opts.timeout}s; the rollout goes on`);
  const watch = watchOf(current);
  if (current.phase === 'Completed' && watch?.status === 'Watching') {
    if (!opts.watch) {
      if (!opts.json)
        print(
          `the watch goes on until ${clock(watch.until)}: a breach rolls revision ${current.toRevision} back to ${current.fromRevision} (rewind status ${current.app}; deploy --watch waits for it)`,
        );
    } else {
      const end = Math.max(deadline, watch.until + 30_000);
      if (!(await follow((r) => watchOf(r)?.status !== 'Watching', end, 500)))
        return timedOut(`still watching at ${clock(Date.now())}; the watch goes on`);
      const ended = watchOf(current);
      if (opts.json) json(current);
      else print(`watch ${ended?.status ?? 'ended'}${ended?.reason ? `: ${ended.reason}` : ''}`);
      process.exitCode = ended?.status === 'RolledBack' ? EXIT.ROLLED_BACK : EXIT.OK;
      return;
    }
  }
  if (opts.json) json(current);
  else {
    const took = ((current.finishedAt ?? Date.now()) - current.createdAt) / 1000;
    print(
      `${current.phase}: revision ${current.phase === 'Completed' ? current.toRevision : current.fromRevision} serves (${took.toFixed(1)}s)`,
    );
    if (current.phase === 'Failed') {
      const failed = (await api.get<Event[]>(`/rollouts/${current.id}/events`)).findLast(
        (e) => e.type === 'step.failed',
      );
      const logs = (failed?.data as { logs?: string[] } | undefined)?.logs ?? [];
      if (logs.length)
        print(`last lines of revision ${current.toRevision}:\n${logs.map((l) => `  | ${l}`).join('\n')}`);
    }
  }
  if (current.phase === 'Completed' || (current.phase === 'RolledBack' && opts.rolledBackIsSuccess))
    process.exitCode = EXIT.OK;
  else process.exitCode = current.phase === 'RolledBack' ? EXIT.ROLLED_BACK : EXIT.FAILED;
}

interface WatchState {
  until: number;
  status: 'Watching' | 'Passed' | 'RolledBack' | 'Ended';
  reason?: string;
}

function watchOf(rollout: Rollout): WatchState | null {
  return ((rollout.state as { watch?: WatchState } | null)?.watch ?? null) as WatchState | null;
}
