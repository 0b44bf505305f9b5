// Notifiers: one way each to tell people what Rewind did. A notifier sends one notification and
// throws when it was not delivered; retries, queues and timing belong to the NotificationHub.
// Picked from a registry map by the spec's type.

import { createHmac } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type {
  NotificationEventType,
  NotifierSpec,
  WebhookNotifierSpec,
} from '../../spec/notification-spec.ts';
import type { Severity } from '../../spec/severity.ts';

export interface Notification {
  /** Unique per publish; receivers can use it to ignore a retried delivery they already have. */
  readonly id: string;
  readonly type: NotificationEventType;
  readonly app: string;
  /** Epoch milliseconds. */
  readonly at: number;
  /** One sentence for people: "rolled back v2.0 to v1.0: error rate 12% > 5% for 30s". */
  readonly message: string;
  readonly severity?: Severity | null;
  readonly rolloutId?: string | null;
  readonly incidentId?: string | null;
  /** A link for people (dashboard, incident report). */
  readonly url?: string | null;
  readonly data?: unknown;
}

export interface Notifier {
  /** Shown in logs and delivery results. */
  readonly name: string;
  /** Resolves once delivered; rejects (preferably with a NotifierError) when not. */
  send(notification: Notification): Promise<void>;
}

/** A failed delivery; `retryable` false when trying again cannot help (e.g. HTTP 400, 404). */
export class NotifierError extends Error {
  readonly retryable: boolean;
  readonly status: number | undefined;
  constructor(message: string, options: { retryable: boolean; status?: number; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'NotifierError';
    this.retryable = options.retryable;
    this.status = options.status;
  }
}

export interface TextSink {
  write(text: string): unknown;
}

/** What building a notifier from its spec may need from the outside world. */
export interface NotifierContext {
  /** Where console notifiers write; defaults to process.stdout. */
  readonly out?: TextSink;
  /** Where {env: NAME} secrets come from; defaults to process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const TITLES: Readonly<Record<NotificationEventType, string>> = {
  'rollout.started': 'Rollout started',
  'rollout.paused': 'Rollout paused',
  'rollout.aborted': 'Rollout aborted',
  'rollout.rolledback': 'Rolled back',
  'rollout.completed': 'Rollout completed',
  'analysis.breach': 'Analysis breach',
  'incident.opened': 'Incident opened',
  'incident.verifying': 'Rollback complete, verifying',
  'incident.escalated': 'Incident escalated',
  'incident.resolved': 'Incident resolved',
  'flags.changed': 'Flags changed',
  'drill.started': 'Rollback drill started',
  'drill.passed': 'Rollback drill passed',
  'drill.failed': 'Rollback drill failed',
};

const EMOJI: Readonly<Record<NotificationEventType, string>> = {
  'rollout.started': ':rocket:',
  'rollout.paused': ':double_vertical_bar:',
  'rollout.aborted': ':no_entry:',
  'rollout.rolledback': ':rewind:',
  'rollout.completed': ':white_check_mark:',
  'analysis.breach': ':warning:',
  'incident.opened': ':rotating_light:',
  'incident.verifying': ':mag:',
  'incident.escalated': ':fire:',
  'incident.resolved': ':large_green_circle:',
  'flags.changed': ':triangular_flag_on_post:',
  'drill.started': ':fire_engine:',
  'drill.passed': ':white_check_mark:',
  'drill.failed': ':x:',
};

function facts(n: Notification): string[] {
  return [
    ...(n.severity ? [n.severity] : []),
    ...(n.incidentId ? [`incident ${n.incidentId}`] : []),
    ...(n.rolloutId ? [`rollout ${n.rolloutId}`] : []),
  ];
}

/** "2024-01-15T14:30:45.000Z shop: Rolled back: <message> (P1, incident inc-1, rollout r-1)" */
export function formatNotificationLine(n: Notification): string {
  const extra = facts(n);
  const message = n.message.replace(/\s*\n\s*/g, ' ');
  return `${new Date(n.at).toISOString()} ${n.app}: ${TITLES[n.type]}: ${message}${extra.length ? ` (${extra.join(', ')})` : ''}`;
}

/** `sha256=<hex HMAC-SHA256 of the exact body bytes>`, as sent in the signature header. */
export function signBody(body: string | Uint8Array, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Keeps names free of URL paths and queries: Slack and many webhooks carry their token there. */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid-url';
  }
}

/**
 * POSTs the body and resolves on a 2xx answer. No redirects, no connection reuse, one deadline for
 * the whole exchange. 408, 429, 5xx and network failures are retryable; other answers are not.
 */
export function postJson(
  url: string,
  body: Buffer,
  headers: Readonly<Record<string, string>>,
  timeoutMs: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const req = send(target, {
      method: 'POST',
      agent: false,
      headers: {
        'content-type': 'application/json',
        'content-length': String(body.length),
        'user-agent': 'rewind-notifier',
        ...headers,
      },
    });
    const timer = setTimeout(() => {
      finish(new NotifierError(`no answer from ${target.host} within ${timeoutMs}ms`, { retryable: true }));
      req.destroy();
    }, timeoutMs);
    req.on('error', (err) => {
      const code = (err as { code?: string }).code;
      finish(
        new NotifierError(`cannot reach ${target.host}: ${code ?? err.message}`, {
          retryable: true,
          cause: err,
        }),
      );
    });
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (text.length < 300) text += chunk;
      });
      res.on('error', () => {});
      res.on('end', () => {
        if (status >= 200 && status < 300) return finish();
        const detail = text.trim().slice(0, 200);
        finish(
          new NotifierError(`${target.host} answered ${status}${detail ? `: ${detail}` : ''}`, {
            retryable: status === 408 || status === 429 || status >= 500,
            status,
          }),
        );
      });
    });
    req.end(body);
  });
}

export function createConsoleNotifier(out: TextSink, name = 'console'): Notifier {
  return {
    name,
    async send(n) {
      out.write(`${formatNotificationLine(n)}\n`);
    },
  };
}

export interface WebhookOptions {
  readonly url: string;
  /** Signs each body into `header` when given. */
  readonly secret?: string | undefined;
  readonly header?: string;
  readonly timeoutMs?: number;
  readonly name?: string;
}

/** The JSON body a webhook receives: the notification, plus the time as ISO text for people. */
export function webhookBody(n: Notification): Buffer {
  return Buffer.from(JSON.stringify({ ...n, time: new Date(n.at).toISOString() }));
}

export function createWebhookNotifier(options: WebhookOptions): Notifier {
  const header = options.header ?? 'x-rewind-signature';
  const timeoutMs = options.timeoutMs ?? 5000;
  return {
    name: options.name ?? `webhook:${hostOf(options.url)}`,
    send(n) {
      const body = webhookBody(n);
      return postJson(
        options.url,
        body,
        {
          'x-rewind-event': n.type,
          'x-rewind-delivery': n.id,
          ...(options.secret !== undefined && { [header]: signBody(body, options.secret) }),
        },
        timeoutMs,
      );
    },
  };
}

/** Slack mrkdwn: only &, < and > need escaping. */
const escapeSlack = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export interface SlackMessage {
  readonly text: string;
  readonly blocks: readonly unknown[];
}

/** An incoming-webhook message: `text` is the readable summary (and the fallback), `blocks` its layout. */
export function slackMessage(n: Notification): SlackMessage {
  const title = `${EMOJI[n.type]} *${escapeSlack(n.app)}*: ${TITLES[n.type]}`;
  const message = escapeSlack(n.message);
  const link = n.url ? ` <${n.url}|details>` : '';
  const context = [n.type, ...facts(n), `${new Date(n.at).toISOString().slice(0, 19).replace('T', ' ')} UTC`];
  return {
    text: `${title}: ${message}${link}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `${title}\n${message}${link}` } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: escapeSlack(context.join(' · ')) }] },
    ],
  };
}

export function createSlackNotifier(options: { url: string; timeoutMs?: number; name?: string }): Notifier {
  const timeoutMs = options.timeoutMs ?? 5000;
  return {
    name: options.name ?? `slack:${hostOf(options.url)}`,
    send(n) {
      return postJson(options.url, Buffer.from(JSON.stringify(slackMessage(n))), {}, timeoutMs);
    },
  };
}

function resolveSecret(spec: WebhookNotifierSpec, env: NotifierContext['env']): string | undefined {
  if (spec.secret === undefined || typeof spec.secret === 'string') return spec.secret;
  const value = (env ?? process.env)[spec.secret.env];
  if (!value) {
    throw new Error(
      `notifications: webhook ${spec.name ?? spec.url}: secret {env: ${spec.secret.env}} is not set; ` +
        `export ${spec.secret.env}=... before starting Rewind, or remove secret`,
    );
  }
  return value;
}

type Factory<S extends NotifierSpec> = (spec: S, context: NotifierContext) => Notifier;
type FactoryMap = { readonly [K in NotifierSpec['type']]: Factory<Extract<NotifierSpec, { type: K }>> };

/** The registry: one factory per `type:` of rewind.yaml's notifications. */
export const NOTIFIER_FACTORIES: FactoryMap = {
  console: (spec, context) => createConsoleNotifier(context.out ?? process.stdout, spec.name ?? 'console'),
  webhook: (spec, context) =>
    createWebhookNotifier({
      url: spec.url,
      secret: resolveSecret(spec, context.env),
      header: spec.header,
      timeoutMs: spec.timeout,
      ...(spec.name !== undefined && { name: spec.name }),
    }),
  slack: (spec) =>
    createSlackNotifier({
      url: spec.url,
      timeoutMs: spec.timeout,
      ...(spec.name !== undefined && { name: spec.name }),
    }),
};

/** Builds the notifier for one spec; throws (naming the notifier) when a secret is missing. */
export function createNotifier(spec: NotifierSpec, context: NotifierContext = {}): Notifier {
  // The map is keyed by the same union as spec.type; TypeScript cannot correlate the two.
  const factory = NOTIFIER_FACTORIES[spec.type] as Factory<NotifierSpec>;
  return factory(spec, context);
}
