// What a revision uses now, for a watch that checks it by hand rather than by rules (the
// post-rollback watch's checklist of seed 004: CPU < 70%, memory < 80%, no more error lines than
// before): one read of the app's runtime, summarised by the analysis (resources.ts).
import { type RevisionResources, summarizeResources } from '../analysis/index.ts';
import type { ManagedApp } from './app-context.ts';

/** Seconds read by default: the last two minutes. */
const DEFAULT_SECONDS_BACK = 120;

export interface RevisionResourcesOptions {
  /** Unix ms. */
  readonly now: number;
  /** The first second wanted (default: two minutes before `now`); the runtime keeps 15 minutes. */
  readonly sinceSecond?: number;
  /** CPU and memory are averaged over this many of the newest seconds measured (default 10). */
  readonly seconds?: number;
}

/**
 * The latest CPU and memory of the instances of `unit` (the unit that serves the revision: a
 * rollback's copy is served by the revision it copies), as shares of what they may use, and their
 * error lines per minute, with the per-second series they come from. Never rejects: a runtime that
 * cannot measure, or a read that fails, gives nulls and `error`.
 *
 * The runtime measures while it is read: the first call starts it, so CPU is known from the next
 * second on (the error lines of the seconds before come from the lines the runtime still holds).
 * Call it about once a second while watching.
 */
export async function readRevisionResources(
  app: Pick<ManagedApp, 'spec' | 'providers'>,
  unit: number,
  options: RevisionResourcesOptions,
): Promise<RevisionResources> {
  const runtime = app.providers.runtime;
  const sinceSecond = options.sinceSecond ?? Math.floor(options.now / 1000) - DEFAULT_SECONDS_BACK;
  const read = runtime.usage
    ? await runtime.usage(app.spec.name, { sinceSecond, errorPattern: app.spec.logs.errorPattern })
    : ({
        phase: 'Error',
        error: `the ${app.spec.runtime.type} runtime of ${app.spec.name} measures no CPU, memory or error lines`,
        samples: [],
      } as const);
  return summarizeResources(read, unit, options.seconds);
}
