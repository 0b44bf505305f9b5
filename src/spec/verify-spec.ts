// The `verify:` block of an app in rewind.yaml: how a revision restored by a rollback is watched
// before its incident is resolved. The defaults are the incident-response runbook's checklist
// (seed 004): "monitor metrics for 15 minutes - error rate should be < 1%, response time < 2s".
import { z } from 'zod';
import { durationSchema } from '../shared/duration-schema.ts';
import { absoluteThresholdSchema } from './analysis-spec.ts';
import { type Check, checkSchema } from './check-spec.ts';

export const DEFAULT_VERIFY_WATCH_MS = 900_000;

export const verifySpecSchema = z
  .strictObject({
    /**
     * How long the restored revision is watched after a rollback, its incident Verifying meanwhile.
     * 0: the one verification at the switch decides.
     */
    watch: durationSchema('15m', { max: 86_400_000, maxReason: 'a day' }).default(DEFAULT_VERIFY_WATCH_MS),
    /** The checklist: the restored revision's error rate stays below this... */
    errorRate: absoluteThresholdSchema('errorRate').default(0.01),
    /** ...and its 95th percentile latency below this (ms). */
    latencyP95: absoluteThresholdSchema('latencyP95').default(2000),
    /** ...its CPU below this share of what it may use (the host's cores, or its limit)... */
    cpu: absoluteThresholdSchema('cpu').default(0.7),
    /** ...and its memory below this share of the host's (or its limit). */
    memory: absoluteThresholdSchema('memory').default(0.8),
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
