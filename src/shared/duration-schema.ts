// A duration field of rewind.yaml: "250ms", "30s", "5m", "1h", or a number of seconds.
import { z } from 'zod';
import { formatDuration, parseDuration } from './duration.ts';

export function durationSchema(example: string, options: { max?: number; maxReason?: string } = {}) {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = typeof value === 'number' ? value * 1000 : parseDuration(value);
    if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
      ctx.addIssue({
        code: 'custom',
        message: `"${value}" is not a duration; write a number with a unit such as ${example} (ms, s, m, h)`,
      });
      return z.NEVER;
    }
    if (options.max !== undefined && ms > options.max) {
      ctx.addIssue({
        code: 'custom',
        message: `"${value}" is longer than ${options.maxReason ?? 'allowed'}; write at most ${formatDuration(options.max)}`,
      });
      return z.NEVER;
    }
    return ms;
  });
}
