import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_SIGNATURE_HEADER,
  NOTIFICATION_EVENTS,
  notificationsSchema,
} from '../../spec/notification-spec.ts';

const messages = (input: unknown) => {
  const result = notificationsSchema.safeParse(input);
  assert.equal(result.success, false, 'expected a rejection');
  return result.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
};

test('defaults: empty list, signature header, timeout, all events', () => {
  assert.deepEqual(notificationsSchema.parse(undefined), []);
  const [console_, webhook, slack] = notificationsSchema.parse([
    { type: 'console' },
    { type: 'webhook', url: 'https://hooks.example.com/rewind', secret: 's3cret' },
    {
      type: 'slack',
      url: 'https://hooks.slack.com/services/T0/B0/XYZ',
      events: ['incident.opened'],
      timeout: '2s',
    },
  ]);
  assert.deepEqual(console_, { type: 'console' });
  assert.deepEqual(webhook, {
    type: 'webhook',
    url: 'https://hooks.example.com/rewind',
    secret: 's3cret',
    header: DEFAULT_SIGNATURE_HEADER,
    timeout: 5000,
  });
  assert.deepEqual(slack, {
    type: 'slack',
    url: 'https://hooks.slack.com/services/T0/B0/XYZ',
    events: ['incident.opened'],
    timeout: 2000,
  });
  assert.equal(NOTIFICATION_EVENTS.length, 14, 'rollouts, analysis, incidents, flags and drills');
});

test('secret from the environment, header names lowercased, duplicate events collapse', () => {
  const [webhook] = notificationsSchema.parse([
    {
      type: 'webhook',
      url: 'http://127.0.0.1:9000/x',
      secret: { env: 'REWIND_HOOK_SECRET' },
      header: 'X-Hub-Signature-256',
      events: ['rollout.rolledback', 'rollout.rolledback', 'incident.escalated'],
    },
  ]);
  assert.deepEqual(webhook, {
    type: 'webhook',
    url: 'http://127.0.0.1:9000/x',
    secret: { env: 'REWIND_HOOK_SECRET' },
    header: 'x-hub-signature-256',
    events: ['rollout.rolledback', 'incident.escalated'],
    timeout: 5000,
  });
});

test('a URL that is not http(s) is rejected, naming the value', () => {
  for (const url of ['ftp://files.example.com/hook', 'hooks.example.com/rewind', 'javascript:alert(1)', '']) {
    const [message, ...rest] = messages([{ type: 'webhook', url }]);
    assert.deepEqual(rest, []);
    assert.equal(
      message,
      `0.url: "${url}" is not an http(s) URL; write for example https://hooks.example.com/rewind`,
    );
  }
  assert.deepEqual(messages([{ type: 'console' }, { type: 'slack', url: 'file:///etc/passwd' }]), [
    '1.url: "file:///etc/passwd" is not an http(s) URL; write for example https://hooks.example.com/rewind',
  ]);
});

test('unknown types, events, fields and bad secrets say what to write', () => {
  assert.deepEqual(messages([{ type: 'pagerduty' }]), [
    '0.type: unknown notifier type "pagerduty"; use console, webhook or slack',
  ]);
  const [event] = messages([{ type: 'console', events: ['rollout.exploded'] }]);
  assert.match(
    event ?? '',
    /^0\.events\.0: "rollout\.exploded" is not an event; use one of rollout\.started, /,
  );
  assert.match(messages([{ type: 'console', events: [] }])[0] ?? '', /at least one event/);
  assert.match(messages([{ type: 'slack', url: 'https://x', secret: 'no' }])[0] ?? '', /secret/);
  assert.match(
    messages([{ type: 'webhook', url: 'https://x', secret: { env: '1BAD' } }])[0] ?? '',
    /0\.secret\.env: an environment variable name/,
  );
  assert.match(messages([{ type: 'webhook', url: 'https://x', secret: '' }])[0] ?? '', /empty secret/);
  assert.match(
    messages([{ type: 'webhook', url: 'https://x', header: 'bad header' }])[0] ?? '',
    /header name/,
  );
  assert.match(
    messages([{ type: 'webhook', url: 'https://x', timeout: 'soon' }])[0] ?? '',
    /"soon" is not a duration/,
  );
});
