// The `notifications:` list of rewind.yaml: where Rewind tells people what it did. One schema for
// every option, its default and its check; the config loader includes notificationsSchema.

import { z } from 'zod';
import { parseDuration } from '../shared/duration.ts';

export const NOTIFICATION_EVENTS = [
  'rollout.started',
  'rollout.paused',
  'rollout.aborted',
  'rollout.rolledback',
  'rollout.completed',
  'analysis.breach',
  'incident.opened',
  'incident.verifying',
  'incident.escalated',
  'incident.resolved',
  'flags.changed',
  'drill.started',
  'drill.passed',
  'drill.failed',
] as const;

export type NotificationEventType = (typeof NOTIFICATION_EVENTS)[number];

export const DEFAULT_SIGNATURE_HEADER = 'x-rewind-signature';
export const DEFAULT_NOTIFY_TIMEOUT_MS = 5000;

const httpUrl = z.string().superRefine((value, ctx) => {
  let protocol: string | undefined;
  try {
    protocol = new URL(value).protocol;
  } catch {
    // not a URL at all: reported below
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" is not an http(s) URL; write for example https://hooks.example.com/rewind`,
    });
  }
});

const events = z
  .array(
    z.string().refine((e) => (NOTIFICATION_EVENTS as readonly string[]).includes(e), {
      error: (issue) =>
        `"${String(issue.input)}" is not an event; use one of ${NOTIFICATION_EVENTS.join(', ')}`,
    }),
  )
  .min(1, 'list at least one event, or leave events out to get all of them')
  .transform((list) => [...new Set(list)] as NotificationEventType[])
  .optional();

const timeout = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    const ms = typeof value === 'number' ? value * 1000 : parseDuration(value);
    if (ms === undefined || !Number.isFinite(ms) || ms <= 0) {
      ctx.addIssue({
        code: 'custom',
        message: `"${value}" is not a duration; write a number with a unit such as 5s (ms, s, m, h)`,
      });
      return z.NEVER;
    }
    return ms;
  })
  .default(DEFAULT_NOTIFY_TIMEOUT_MS);

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const common = {
  /** Shown in logs, delivery results and incident actions; defaults to type:host. */
  name: z.string().min(1).optional(),
  /** Only these events; all when absent. */
  events,
};

export const consoleNotifierSchema = z.strictObject({ type: z.literal('console'), ...common });

export const webhookNotifierSchema = z.strictObject({
  type: z.literal('webhook'),
  ...common,
  url: httpUrl,
  /** HMAC-SHA256 key for the signature header; {env: NAME} reads it from the environment. */
  secret: z
    .union([
      z.string().min(1, 'an empty secret signs nothing; remove secret or give a value'),
      z.strictObject({
        env: z
          .string()
          .regex(envName, 'an environment variable name: letters, digits and _, not starting with a digit'),
      }),
    ])
    .optional(),
  header: z
    .string()
    .regex(headerName, 'an HTTP header name such as x-rewind-signature')
    .transform((h) => h.toLowerCase())
    .default(DEFAULT_SIGNATURE_HEADER),
  timeout,
});

export const slackNotifierSchema = z.strictObject({
  type: z.literal('slack'),
  ...common,
  /** A Slack incoming-webhook URL (https://hooks.slack.com/services/...). */
  url: httpUrl,
  timeout,
});

export const notifierSpecSchema = z.discriminatedUnion(
  'type',
  [consoleNotifierSchema, webhookNotifierSchema, slackNotifierSchema],
  {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? `unknown notifier type ${JSON.stringify((issue.input as { type?: unknown } | undefined)?.type)}; use console, webhook or slack`
        : undefined,
  },
);

export const notificationsSchema = z.array(notifierSpecSchema).default([]);

export type ConsoleNotifierSpec = z.output<typeof consoleNotifierSchema>;
export type WebhookNotifierSpec = z.output<typeof webhookNotifierSchema>;
export type SlackNotifierSpec = z.output<typeof slackNotifierSchema>;
export type NotifierSpec = z.output<typeof notifierSpecSchema>;
export type NotificationsSpec = z.output<typeof notificationsSchema>;
