import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { closedPortUrl, startBlackHole, startReceiver } from '../../../test/support/notification-servers.ts';
import { createNotificationHub, type DeliveryResult, NotificationHub } from './notification-hub.ts';
import { type Notification, type Notifier, NotifierError } from './notifier.ts';

const event = { type: 'rollout.rolledback', app: 'shop', message: 'rolled back v2.0 to v1.0' } as const;

/** A notifier that records what it was given and fails as scripted. */
function scripted(name: string, failures = 0, error = () => new NotifierError('boom', { retryable: true })) {
  const sent: Notification[] = [];
  let calls = 0;
  const notifier: Notifier = {
    name,
    async send(n) {
      calls++;
      if (calls <= failures) throw error();
      sent.push(n);
    },
  };
  return { notifier, sent, calls: () => calls };
}

test('a webhook failing twice gets the notification on the third try, after 200 and 400 ms', async () => {
  const receiver = await startReceiver([500, 502, 200]);
  const hub = createNotificationHub([
    { type: 'webhook', url: receiver.url, secret: 'k', header: 'x-rewind-signature', timeout: 2000 },
  ]);
  try {
    const results: DeliveryResult[] = [];
    hub.onResult((r) => results.push(r));
    const published = hub.publish(event);
    assert.equal(await hub.flush(5000), true);
    const got = await receiver.waitFor(3);
    assert.equal(got.length, 3);
    const gap1 = (got[1]?.at ?? 0) - (got[0]?.at ?? 0);
    const gap2 = (got[2]?.at ?? 0) - (got[1]?.at ?? 0);
    // Timers never fire early; on a busy box they may fire late, so only "did not hang" above.
    assert.ok(gap1 >= 190 && gap1 < 10_000, `first backoff ${gap1}ms`);
    assert.ok(gap2 >= 390 && gap2 < 10_000, `second backoff ${gap2}ms`);
    // The same delivery each time: same id, same signed bytes.
    assert.equal(new Set(got.map((r) => r.headers['x-rewind-delivery'])).size, 1);
    assert.equal(got[2]?.body.toString(), got[0]?.body.toString());
    const last = got[2];
    assert.equal(
      last?.headers['x-rewind-signature'],
      `sha256=${createHmac('sha256', 'k')
        .update(last?.body ?? '')
        .digest('hex')}`,
    );
    assert.equal(results.length, 1);
    assert.equal(results[0]?.outcome, 'delivered');
    assert.equal(results[0]?.attempts, 3);
    assert.equal(results[0]?.error, null);
    assert.equal(results[0]?.notification.id, published.id);
    assert.deepEqual(hub.results, results);
  } finally {
    hub.close();
    await receiver.close();
  }
});

test('a dead endpoint never delays publish() nor the other notifiers', async () => {
  const hole = await startBlackHole();
  const refused = await closedPortUrl();
  const receiver = await startReceiver();
  const lines: string[] = [];
  const hub = createNotificationHub(
    [
      { type: 'webhook', url: hole.url, header: 'x-rewind-signature', timeout: 60_000, name: 'silent' },
      { type: 'webhook', url: refused, header: 'x-rewind-signature', timeout: 60_000, name: 'refused' },
      { type: 'slack', url: receiver.url, timeout: 5000, name: 'slack' },
      { type: 'console' },
    ],
    { out: { write: (t: string) => lines.push(t) } },
    { maxAttempts: 5, baseDelayMs: 200 },
  );
  try {
    for (let i = 0; i < 20; i++) {
      // Synchronous: it cannot wait on any endpoint (a wall-clock bound would fail on a busy box).
      const returned: unknown = hub.publish({ ...event, message: `event ${i}` });
      assert.ok(!(returned instanceof Promise), `publish ${i} returned a promise`);
    }
    // The healthy notifiers get all 20 while the silent one is still waiting on its first.
    const got = await receiver.waitFor(20, 3000);
    assert.deepEqual(
      got.map((r) => JSON.parse(r.body.toString()).text.replace(/^.*: /, '')),
      Array.from({ length: 20 }, (_, i) => `event ${i}`),
      'in order',
    );
    assert.equal(lines.length, 20);
    assert.equal(hole.connections, 1, 'the silent endpoint holds its lane, one request at a time');
    assert.ok(
      !hub.results.some((r) => r.notifier === 'silent'),
      'no outcome yet for the endpoint that never answers',
    );
    assert.equal(await hub.flush(50), false, 'flush reports the silent lane as unsettled');
  } finally {
    hub.close();
    await hole.close();
    await receiver.close();
  }
  // The try in flight when the hub closed ends when its connection is refused: on a loaded box
  // that can come after close(), so wait for it rather than for a quiet machine.
  const refusedOf = () => hub.results.filter((r) => r.notifier === 'refused');
  for (const deadline = Date.now() + 10_000; !refusedOf().some((r) => r.outcome === 'failed'); ) {
    assert.ok(Date.now() < deadline, 'the refused endpoint was never tried');
    await new Promise((r) => setTimeout(r, 10));
  }
  const refusedResults = refusedOf();
  assert.ok(refusedResults.every((r) => r.outcome !== 'delivered'));
  const tried = refusedResults.find((r) => r.outcome === 'failed');
  // Refused before close: retried no more ("hub closed before the next try"); refused after: failed as it was.
  assert.match(tried?.error ?? '', /ECONNREFUSED(; hub closed before the next try)?$/);
  assert.ok(refusedResults.some((r) => r.outcome === 'dropped' && r.error === 'notification hub closed'));
});

test('gives up after maxAttempts; a non-retryable error fails at once', async () => {
  const flaky = scripted('flaky', 99);
  const rejecting = scripted(
    'rejecting',
    99,
    () => new NotifierError('answered 400', { retryable: false, status: 400 }),
  );
  const warnings: string[] = [];
  const hub = new NotificationHub({
    targets: [{ notifier: flaky.notifier }, { notifier: rejecting.notifier }],
    maxAttempts: 4,
    baseDelayMs: 10,
    logger: { warn: (_fields, message) => warnings.push(message) },
  });
  const started = Date.now();
  hub.publish(event);
  assert.equal(await hub.flush(2000), true);
  assert.ok(Date.now() - started >= 70, 'waited 10 + 20 + 40 ms between tries');
  assert.equal(flaky.calls(), 4);
  assert.equal(rejecting.calls(), 1);
  const byName = Object.fromEntries(hub.results.map((r) => [r.notifier, r]));
  assert.equal(byName.flaky?.outcome, 'failed');
  assert.equal(byName.flaky?.attempts, 4);
  assert.equal(byName.flaky?.error, 'boom');
  assert.equal(byName.rejecting?.outcome, 'failed');
  assert.equal(byName.rejecting?.attempts, 1);
  assert.deepEqual(warnings, [
    'notification not delivered: answered 400',
    'notification not delivered: boom',
  ]);
});

test('backoff doubles up to the cap', async () => {
  const times: number[] = [];
  const notifier: Notifier = {
    name: 'timed',
    async send() {
      times.push(Date.now());
      throw new Error('down');
    },
  };
  const hub = new NotificationHub({
    targets: [{ notifier }],
    maxAttempts: 5,
    baseDelayMs: 20,
    maxDelayMs: 50,
  });
  hub.publish(event);
  assert.equal(await hub.flush(2000), true);
  const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0));
  const expected = [20, 40, 50, 50];
  gaps.forEach((gap, i) => {
    const want = expected[i] ?? 0;
    assert.ok(gap >= want - 3 && gap < want + 60, `gap ${i} was ${gap}ms, want about ${want}ms`);
  });
});

test('the queue is bounded: the oldest are dropped with a warning', async () => {
  let release: () => void = () => {};
  const sent: string[] = [];
  const slow: Notifier = {
    name: 'slow',
    async send(n) {
      if (sent.length === 0) await new Promise<void>((r) => (release = r));
      sent.push(n.message);
    },
  };
  const warnings: object[] = [];
  const hub = new NotificationHub({
    targets: [{ notifier: slow }],
    queueLimit: 3,
    logger: { warn: (fields) => warnings.push(fields) },
  });
  hub.publish({ ...event, message: 'm0' });
  await new Promise((r) => setImmediate(r)); // m0 is now in delivery, not queued
  for (let i = 1; i <= 6; i++) hub.publish({ ...event, message: `m${i}` });
  assert.equal(hub.pending, 4);
  const dropped = hub.results.filter((r) => r.outcome === 'dropped').map((r) => r.notification.message);
  assert.deepEqual(dropped, ['m1', 'm2', 'm3']);
  assert.equal(warnings.length, 3);
  assert.deepEqual(warnings[0], { notifier: 'slow', type: 'rollout.rolledback', app: 'shop' });
  release();
  assert.equal(await hub.flush(1000), true);
  assert.deepEqual(sent, ['m0', 'm4', 'm5', 'm6']);
});

test('event filters pick what each notifier gets', async () => {
  const all = scripted('all');
  const incidents = scripted('incidents');
  const hub = new NotificationHub({
    targets: [
      { notifier: all.notifier },
      { notifier: incidents.notifier, events: ['incident.opened', 'incident.escalated'] },
    ],
  });
  hub.publish({ type: 'rollout.started', app: 'shop', message: 'canary v2' });
  hub.publish({ type: 'incident.opened', app: 'shop', message: 'P1', incidentId: 'inc-1', severity: 'P1' });
  hub.publish({ type: 'incident.resolved', app: 'shop', message: 'verified', incidentId: 'inc-1' });
  assert.equal(await hub.flush(1000), true);
  assert.deepEqual(
    all.sent.map((n) => n.type),
    ['rollout.started', 'incident.opened', 'incident.resolved'],
  );
  assert.deepEqual(
    incidents.sent.map((n) => n.type),
    ['incident.opened'],
  );
  assert.equal(incidents.sent[0]?.incidentId, 'inc-1');
});

test('close drops what is queued, cuts a backoff short and ignores later publishes', async () => {
  const down = scripted('down', 99);
  const hub = new NotificationHub({ targets: [{ notifier: down.notifier }], baseDelayMs: 10_000 });
  hub.publish({ ...event, message: 'first' });
  hub.publish({ ...event, message: 'second' });
  await new Promise((r) => setTimeout(r, 20)); // first failed once, now waiting 10 s
  const started = Date.now();
  hub.close();
  assert.equal(await hub.flush(1000), true);
  assert.ok(Date.now() - started < 100, 'did not wait for the backoff');
  hub.publish({ ...event, message: 'late' });
  assert.equal(hub.pending, 0);
  const outcomes = hub.results.map((r) => `${r.notification.message}:${r.outcome}`);
  assert.deepEqual(outcomes, ['second:dropped', 'first:failed']);
  assert.equal(down.calls(), 1);
  assert.equal(await hub.flush(0), true, 'an idle hub flushes at once');
});

test('publish fills id and time; listeners can unsubscribe; a throwing listener is harmless', async () => {
  const ok = scripted('ok');
  const hub = new NotificationHub({ targets: [{ notifier: ok.notifier }], now: () => 1234 });
  const seen: string[] = [];
  hub.onResult(() => {
    throw new Error('listener bug');
  });
  const off = hub.onResult((r) => seen.push(r.notification.id));
  const n = hub.publish(event);
  assert.equal(n.at, 1234);
  assert.match(n.id, /^[0-9a-f-]{36}$/);
  assert.equal(hub.publish({ ...event, id: 'mine', at: 5 }).id, 'mine');
  await hub.flush(1000);
  off();
  hub.publish(event);
  await hub.flush(1000);
  assert.deepEqual(seen, [n.id, 'mine']);
  assert.equal(ok.sent.length, 3);
});
