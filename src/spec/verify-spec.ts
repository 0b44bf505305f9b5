// The `verify:` block of an app in rewind.yaml: how a revision restored by a rollback is watched
// before its incident is resolved. The defaults are the incident-response runbook's checklist
// (seed 004): "monitor metrics for 15 minutes - error rate should be < 1%, response time < 2s".
import { z } from 'zod';
import { durationSchema } from '../shared/duration-schema.ts';
import { type Check, checkSchema } from './check-spec.ts';

export const DEFAULT_VERIFY_WATCH_MS = 900_000;

/** A share of requests: a fraction (0.01) or a percentage ("1%"), above 0 and below 1. */
const share = (example: string) =>
  z.union([z.number(), z.string()]).transform((raw, ctx) => {
    const text = typeof raw === 'number' ? String(raw) : raw.trim();
    const percent = /^(\d+(?:\.\d+)?|\.\d+)\s*%$/.exec(text);
    const value = percent
      ? Number(percent[1]) / 100
      : /^(\d+(?:\.\d+)?|\.\d+)$/.test(text)
        ? Number(text)
        : NaN;
    if (!(value > 0 && value < 1)) {
      const hint = typeof raw === 'number' && raw >= 1 && raw < 100 ? `; did you mean "${raw}%"?` : '';
      ctx.addIssue({
        code: 'custom',
        message: `${JSON.stringify(raw)} is not a share of requests between 0 and 1; write a fraction such as ${Number.parseFloat(example) / 100} or a percentage such as "${example}"${hint}`,
      });
      return z.NEVER;
    }
    return value;
  });

export const verifySpecSchema = z
  .strictObject({
    /**
     * How long the restored revision is watched after a rollback, its incident Verifying meanwhile.
     * 0: the one verification at the switch decides.
     */
    watch: durationSchema('15m', { max: 86_400_000, maxReason: 'a day' }).default(DEFAULT_VERIFY_WATCH_MS),
    /** The checklist: the restored revision's error rate stays below this... */
    errorRate: share('1%').default(0.01),
    /** ...and its 95th percentile latency below this (ms). */
    latencyP95: durationSchema('2s', { max: 600_000, maxReason: '10 minutes' }).default(2000),
    /** ...its CPU below this share of what it may use (the host's cores, or its limit)... */
    cpu: share('70%').default(0.7),
    /** ...and its memory below this share of the host's (or its limit). */
    memory: share('80%').default(0.8),
    /** How long a checklist item must be breached before the incident is escalated. */
    for: durationSchema('10s', { max: 3_600_000, maxReason: 'an hour' }).default(10_000),
    /**
     * The user's own checks (smoke tests, critical user flows): run against the restored revision
     * after the switch and every `checkEvery` during the watch; one failing escalates.
     */
    checks: z.array(checkSchema).default([]),
    checkEvery: durationSchema('1m', { max: 3_600_000, maxReason: 'an hour' })
      .default(60_000)
      .refine((ms) => ms >= 1000, 'checkEvery is at least 1s'),
  })
  .prefault({});

export type VerifySpec = z.output<typeof verifySpecSchema>;
export type { Check };
