// The dashboard's side of the server, from a browser's point of view but without one: a sign-in
// link from `rewind dashboard` becomes an HttpOnly cookie, the cookie acts as its token (and only
// from the dashboard's own origin when it changes something), and the live stream pushes the apps,
// each event and each second's traffic.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Harness, startRewind, waitFor } from '../support/rewind-harness.ts';

/** Reads Server-Sent Events off a streaming response: name and parsed data, as they come. */
function sseReader(res: Response) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const seen: { event: string; data: unknown }[] = [];
  let buffer = '';
  let done = false;
  void (async () => {
    for (;;) {
      const chunk = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (chunk.done) break;
      buffer += chunk.value;
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) seen.push({ event, data: JSON.parse(data) });
        end = buffer.indexOf('\n\n');
      }
    }
    done = true;
  })();
  return {
    seen,
    get done() {
      return done;
    },
    cancel: () => reader.cancel().catch(() => {}),
  };
}

describe('dashboard sign-in, session and live stream against a real server', () => {
  let h: Harness;
  let cookie = '';

  before(async () => {
    h = await startRewind();
    // The start deploys v1; a deploy before it is stable would be refused as a second rollout.
    await waitFor('shop stable at v1', async () => {
      const shop = (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop`)).json()) as {
        stableRevision: number | null;
        activeRollout: unknown;
      };
      return shop.stableRevision === 1 && shop.activeRollout === null;
    });
  });
  after(async () => {
    await h?.close();
  });

  const signInLink = async () => {
    const r = await h.cli('dashboard', '--json');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { url: string; expiresAt: number };
  };

  test('rewind dashboard prints a link that signs in once and sets an HttpOnly, SameSite=Strict cookie', async () => {
    const { url, expiresAt } = await signInLink();
    assert.match(url, new RegExp(`^${h.apiUrl}/signin\\?code=[A-Za-z0-9_-]{43}$`));
    assert.ok(expiresAt > Date.now() + 14 * 60_000 && expiresAt <= Date.now() + 15 * 60_000);
    const res = await fetch(url, { redirect: 'manual' });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    const set = res.headers.get('set-cookie') ?? '';
    assert.match(
      set,
      /^rewind_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/,
    );
    cookie = set.split(';')[0]!;

    const again = await fetch(url, { redirect: 'manual' });
    assert.equal(again.status, 401);
    assert.equal(again.headers.get('set-cookie'), null);
    assert.match(await again.text(), /used already[^<]*Run rewind dashboard/);
  });

  test("the cookie is the admin token's session; only a token may mint more links", async () => {
    const me = await fetch(`${h.apiUrl}/api/v1/session`, { headers: { cookie } });
    assert.equal(me.status, 200);
    const body = (await me.json()) as { name: string; role: string; via: string; expiresAt: number };
    assert.equal(body.role, 'admin');
    assert.equal(body.via, 'session');
    assert.ok(body.expiresAt > Date.now() + 11 * 3_600_000);

    const minted = await fetch(`${h.apiUrl}/api/v1/session/links`, {
      method: 'POST',
      headers: { cookie, origin: h.apiUrl, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(minted.status, 403);
    assert.match(
      ((await minted.json()) as { error: { message: string } }).error.message,
      /made with a token/,
    );
  });

  test("a change by cookie needs the dashboard's own Origin", async () => {
    const pause = (headers: Record<string, string>) =>
      fetch(`${h.apiUrl}/api/v1/apps/shop/flags/no-such-flag/disable`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ reason: 'test' }),
      });
    const none = await pause({});
    assert.equal(none.status, 403);
    assert.match(
      ((await none.json()) as { error: { message: string } }).error.message,
      /dashboard's own page/,
    );
    const foreign = await pause({ origin: 'http://evil.example' });
    assert.equal(foreign.status, 403);
    assert.match(
      ((await foreign.json()) as { error: { code: string } }).error.code,
      /FORBIDDEN|ORIGIN_NOT_ALLOWED/,
    );
    // Our own origin gets through the front door: the route itself answers (no such flag).
    const own = await pause({ origin: h.apiUrl });
    assert.notEqual(own.status, 403);
    assert.notEqual(own.status, 401);
  });

  test('the stream sends the apps at once, then each event and each second of traffic', async () => {
    const res = await fetch(`${h.apiUrl}/api/v1/stream`, { headers: { cookie } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const sse = sseReader(res);
    try {
      const apps = await waitFor('the apps', async () => sse.seen.find((m) => m.event === 'apps'));
      const shop = (apps.data as { name: string; traffic: unknown[]; rules: { name: string }[] }[]).find(
        (a) => a.name === 'shop',
      );
      assert.ok(shop, 'shop is in the first apps message');
      assert.ok(shop.rules.length > 0, 'the rules the charts draw come with the app');

      const metrics = await waitFor('a second of traffic', async () =>
        sse.seen.find((m) => m.event === 'metrics'),
      );
      const m = metrics.data as {
        second: number;
        apps: Record<string, { revision: number; requests: number }[]>;
      };
      assert.ok(m.second > Date.now() / 1000 - 10);
      assert.ok(Array.isArray(m.apps.shop));

      const deployed = await h.cli('deploy', 'shop', '--version', 'v2', '--reason', 'dashboard stream test');
      assert.equal(deployed.code, 0, deployed.stderr);
      const event = await waitFor('an event of the deploy', async () =>
        sse.seen.find((x) => x.event === 'event' && (x.data as { app: string }).app === 'shop'),
      );
      assert.equal(typeof (event.data as { type: string }).type, 'string');
      await waitFor('an apps message with the rollout', async () =>
        sse.seen.find(
          (x) =>
            x.event === 'apps' &&
            (x.data as { name: string; activeRollout: unknown }[]).some(
              (a) => a.name === 'shop' && a.activeRollout,
            ),
        ),
      );
    } finally {
      await sse.cancel();
    }
    const series = await fetch(
      `${h.apiUrl}/api/v1/apps/shop/series?since=${Math.floor(Date.now() / 1000) - 60}`,
      {
        headers: { cookie },
      },
    );
    assert.equal(series.status, 200);
    const points = (await series.json()) as { second: number; revisions: { p99: number | null }[] }[];
    assert.ok(points.length > 0);
    assert.ok(
      points.every((p, i) => i === 0 || p.second === points[i - 1]!.second + 1),
      'one point per second',
    );
  });

  test('signing out ends the session: its cookie is refused after', async () => {
    const out = await fetch(`${h.apiUrl}/api/v1/session/signout`, {
      method: 'POST',
      headers: { cookie, origin: h.apiUrl, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie') ?? '', /^rewind_session=; .*Max-Age=0/);
    const me = await fetch(`${h.apiUrl}/api/v1/session`, { headers: { cookie } });
    assert.equal(me.status, 401);
    assert.match(((await me.json()) as { error: { message: string } }).error.message, /sign in again/);
  });
});
