// `drills:` of an app in rewind.yaml: a rollback drill every so often, and which version it deploys.
//
// The version: `stable` (the default) deploys the version the app serves now onto itself. That
// still exercises the whole way back (a new revision started, traffic switched, baked, rolled
// back, verified, flags off and on), but it brings no migration, so the database line only
// checks the schema's fingerprint. Name the release you are about to ship (or have CI call the
// API with it) to rehearse its migrations' way back too.
import { z } from 'zod';
import { formatDuration, parseExpiry } from '../shared/duration.ts';

const MIN_EVERY_MS = 60_000;

export const drillSpecSchema = z.strictObject({
  every: z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = typeof value === 'number' ? value * 1000 : parseExpiry(value);
    if (ms === undefined || ms < MIN_EVERY_MS) {
      ctx.addIssue({
        code: 'custom',
        message: `"${value}" is not a duration of at least ${formatDuration(MIN_EVERY_MS)}; write for example 7d, 1w or 12h`,
      });
      return z.NEVER;
    }
    return ms;
  }),
  version: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/, 'a version label (letters, digits, . _ + -) or stable')
    .default('stable'),
});

export type DrillSpec = z.output<typeof drillSpecSchema>;

/**
 * Whether the app's next scheduled drill is due: `every` after `since` (when the last drill
 * started, or when the app came under Rewind if none ever ran).
 */
export function drillDue(spec: DrillSpec | undefined, since: number, now: number): boolean {
  if (!spec) return false;
  return now - since >= spec.every;
}
