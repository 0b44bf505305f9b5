import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { test } from 'node:test';
import { closedPortUrl, startBlackHole, startReceiver } from '../../../test/support/notification-servers.ts';
import { notificationsSchema } from '../../spec/notification-spec.ts';
import {
  createNotifier,
  createSlackNotifier,
  createWebhookNotifier,
  formatNotificationLine,
  type Notification,
  NotifierError,
} from './notifier.ts';

const AT = Date.UTC(2024, 0, 15, 14, 30, 45);
const rolledBack: Notification = {
  id: 'n-1',
  type: 'rollout.rolledback',
  app: 'shop',
  at: AT,
  message: 'rolled back v2.0 to v1.0: error rate 12.5% > 5% for 30s',
  severity: 'P1',
  rolloutId: 'r-42',
  incidentId: 'inc-1',
  data: { text: 'unicode é 漢字 🚀 and "quotes"' },
};

/** What a receiver does: recompute the HMAC over the raw body bytes and compare in constant time. */
function verifySignature(body: Buffer, header: string | string[] | undefined, secret: string): boolean {
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  const given = Buffer.from(header.slice('sha256='.length), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

test('webhook: POSTs the JSON notification signed with HMAC-SHA256 over the exact body bytes', async () => {
  const receiver = await startReceiver();
  try {
    const [spec] = notificationsSchema.parse([
      { type: 'webhook', url: receiver.url, secret: { env: 'HOOK_SECRET' }, name: 'ops' },
    ]);
    assert.ok(spec);
    const notifier = createNotifier(spec, { env: { HOOK_SECRET: 'k3y-é' } });
    assert.equal(notifier.name, 'ops');
    await notifier.send(rolledBack);
    const [req] = await receiver.waitFor(1);
    assert.ok(req);
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/hook');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['x-rewind-event'], 'rollout.rolledback');
    assert.equal(req.headers['x-rewind-delivery'], 'n-1');
    assert.ok(verifySignature(req.body, req.headers['x-rewind-signature'], 'k3y-é'), 'signature verifies');
    assert.ok(!verifySignature(req.body, req.headers['x-rewind-signature'], 'wrong'), 'wrong key fails');
    const tampered = Buffer.from(req.body.toString('utf8').replace('shop', 'shoq'));
    assert.ok(!verifySignature(tampered, req.headers['x-rewind-signature'], 'k3y-é'), 'tampered body fails');
    assert.deepEqual(JSON.parse(req.body.toString('utf8')), {
      ...rolledBack,
      time: '2024-01-15T14:30:45.000Z',
    });
  } finally {
    await receiver.close();
  }
});

test('webhook: custom signature header; no secret, no signature', async () => {
  const receiver = await startReceiver();
  try {
    await createWebhookNotifier({ url: receiver.url, secret: 's', header: 'x-hub-signature-256' }).send(
      rolledBack,
    );
    await createWebhookNotifier({ url: receiver.url }).send(rolledBack);
    const [signed, unsigned] = await receiver.waitFor(2);
    assert.ok(verifySignature(signed?.body ?? Buffer.alloc(0), signed?.headers['x-hub-signature-256'], 's'));
    assert.equal(signed?.headers['x-rewind-signature'], undefined);
    assert.equal(unsigned?.headers['x-rewind-signature'], undefined);
  } finally {
    await receiver.close();
  }
});

test('webhook: a missing env secret fails at build time, naming the variable', () => {
  const [spec] = notificationsSchema.parse([
    { type: 'webhook', url: 'https://x.example', secret: { env: 'NOPE' } },
  ]);
  assert.ok(spec);
  assert.throws(() => createNotifier(spec, { env: {} }), /secret \{env: NOPE\} is not set; export NOPE=/);
});

test('webhook failures: 5xx and 429 retryable, 4xx not, refused and silent endpoints time-bounded', async () => {
  const receiver = await startReceiver([503, 429, 404]);
  const hole = await startBlackHole();
  try {
    const hook = createWebhookNotifier({ url: receiver.url, timeoutMs: 1000 });
    for (const [status, retryable] of [
      [503, true],
      [429, true],
      [404, false],
    ] as const) {
      await assert.rejects(hook.send(rolledBack), (err: NotifierError) => {
        assert.ok(err instanceof NotifierError);
        assert.equal(err.status, status);
        assert.equal(err.retryable, retryable);
        assert.match(err.message, new RegExp(`answered ${status}: failing`));
        return true;
      });
    }
    await assert.rejects(
      createWebhookNotifier({ url: await closedPortUrl() }).send(rolledBack),
      (err: NotifierError) => {
        assert.equal(err.retryable, true);
        assert.match(err.message, /cannot reach 127\.0\.0\.1:\d+: ECONNREFUSED/);
        return true;
      },
    );
    const started = Date.now();
    await assert.rejects(
      createWebhookNotifier({ url: hole.url, timeoutMs: 150 }).send(rolledBack),
      /no answer from 127\.0\.0\.1:\d+ within 150ms/,
    );
    const took = Date.now() - started;
    assert.ok(took >= 140 && took < 10_000, `timed out after ${took}ms`);
  } finally {
    await receiver.close();
    await hole.close();
  }
});

test('slack: an incoming-webhook body with a readable text summary and blocks', async () => {
  const receiver = await startReceiver();
  try {
    const slack = createSlackNotifier({ url: `${receiver.url}/T000/B000/secret-token` });
    assert.equal(slack.name, `slack:${new URL(receiver.url).host}`, 'the name leaves out the token');
    await slack.send({
      ...rolledBack,
      message: 'error rate <5% & rising>',
      url: 'https://rewind.example/i/inc-1',
    });
    const [req] = await receiver.waitFor(1);
    const body = JSON.parse(req?.body.toString('utf8') ?? '{}');
    assert.deepEqual(Object.keys(body).sort(), ['blocks', 'text']);
    assert.equal(
      body.text,
      ':rewind: *shop*: Rolled back: error rate &lt;5% &amp; rising&gt; <https://rewind.example/i/inc-1|details>',
    );
    assert.deepEqual(body.blocks, [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: ':rewind: *shop*: Rolled back\nerror rate &lt;5% &amp; rising&gt; <https://rewind.example/i/inc-1|details>',
        },
      },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: 'rollout.rolledback · P1 · incident inc-1 · rollout r-42 · 2024-01-15 14:30:45 UTC',
          },
        ],
      },
    ]);
  } finally {
    await receiver.close();
  }
});

test('console: one readable line to the given sink', async () => {
  const lines: string[] = [];
  const [spec] = notificationsSchema.parse([{ type: 'console' }]);
  assert.ok(spec);
  const notifier = createNotifier(spec, { out: { write: (t: string) => lines.push(t) } });
  await notifier.send({ ...rolledBack, message: 'two\nlines' });
  await notifier.send({ id: 'n-2', type: 'rollout.started', app: 'cart', at: AT, message: 'canary v3' });
  assert.deepEqual(lines, [
    '2024-01-15T14:30:45.000Z shop: Rolled back: two lines (P1, incident inc-1, rollout r-42)\n',
    '2024-01-15T14:30:45.000Z cart: Rollout started: canary v3\n',
  ]);
  assert.equal(formatNotificationLine(rolledBack).includes('\n'), false);
});
