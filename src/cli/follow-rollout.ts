// Shared by the commands that start a rollout: follow it to its end and exit with a code a CI
// pipeline can act on; and the small printing helpers every command uses.
import { InvalidArgumentError } from 'commander';
import type { EventRecord, RolloutRecord } from '../store/types.ts';
import type { ApiClient } from './api-client.ts';
import { EXIT } from './exit-codes.ts';
import { clock } from './format.ts';

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

export async function followRollout(
  api: ApiClient,
  rollout: RolloutRecord,
  opts: { wait?: boolean; json?: boolean; timeout: number; rolledBackIsSuccess?: boolean },
) {
  if (!opts.wait) {
    if (opts.json) return json(rollout);
    print(`${rollout.kind} ${rollout.id}: revision ${rollout.toRevision}, ${rollout.phase}`);
    print(`follow it with: rewind status ${rollout.app} --watch`);
    return;
  }
  const deadline = Date.now() + opts.timeout * 1000;
  let after = 0;
  let current = rollout;
  for (;;) {
    const events = await api.get<EventRecord[]>(`/rollouts/${current.id}/events?after=${after}`);
    for (const e of events) {
      after = e.id;
      if (!opts.json) print(`${clock(e.at)}  ${e.message}`);
    }
    current = await api.get<RolloutRecord>(`/rollouts/${current.id}`);
    if (TERMINAL.has(current.phase)) break;
    if (Date.now() > deadline) {
      if (opts.json) json({ ...current, timedOut: true });
      else print(`still ${current.phase} after ${opts.timeout}s; the rollout goes on`);
      process.exitCode = EXIT.TIMEOUT;
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (opts.json) json(current);
  else {
    const took = ((current.finishedAt ?? Date.now()) - current.createdAt) / 1000;
    print(
      `${current.phase}: revision ${current.phase === 'Completed' ? current.toRevision : current.fromRevision} serves (${took.toFixed(1)}s)`,
    );
    if (current.phase === 'Failed') {
      const failed = (await api.get<EventRecord[]>(`/rollouts/${current.id}/events`)).findLast(
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
