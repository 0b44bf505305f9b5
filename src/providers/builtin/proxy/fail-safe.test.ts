// The proxy fails safe: every wait has a deadline, a peer that stops reading holds no unbounded
// memory, a request that may have reached its upstream is not sent twice unless that is safe.
// Real sockets throughout; the memory test runs the data plane in a child process to read its RSS.

import assert from 'node:assert/strict';
import { type ChildProcess, fork, spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { backend, request, table, waitFor } from '../../../../test/support/proxy-fixtures.ts';
import { createDataPlane, type RewindDataPlane } from './data-plane.ts';
import { DEFAULT_TIMEOUTS, type ProxyTimeouts, type RouteTable } from './types.ts';

async function withPlane(fn: (dp: RewindDataPlane) => Promise<void>): Promise<void> {
  const dp = await createDataPlane({ workers: 1 });
  try {
    await fn(dp);
  } finally {
    await dp.close();
  }
}

const timeouts = (t: Partial<ProxyTimeouts>): ProxyTimeouts => ({ ...DEFAULT_TIMEOUTS, ...t });

/** A raw TCP upstream, closed after the test; `onConn` gets each accepted socket. */
async function rawUpstream(t: TestContext, onConn: (s: net.Socket) => void) {
  const stats = { accepted: 0, open: 0 };
  const server = net.createServer((s) => {
    stats.accepted++;
    stats.open++;
    s.on('close', () => stats.open--);
    s.on('error', () => {});
    onConn(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  t.after(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return { port, stats };
}

/** Connect, send `data`, collect until the proxy closes; resolves with what arrived and when. */
function untilClosed(port: number, data: string): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () =>
      resolve({ text: Buffer.concat(chunks).toString('latin1'), ms: performance.now() - t0 }),
    );
    s.write(data);
  });
}

test('hanging upstream: 200 requests all get 504 after the response timeout, and every upstream socket is closed', async (t) => {
  const up = await rawUpstream(t, (s) => s.resume()); // reads requests, never answers
  await withPlane(async (dp) => {
    await dp.setRoutes(
      table('hang', 1, [backend(1, 100, up.port)], { timeouts: timeouts({ response: 1000 }) }),
    );
    const port = dp.port('hang') as number;
    const t0 = performance.now();
    const replies = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const r = await request(port);
        return { status: r.status, ms: performance.now() - t0 };
      }),
    );
    assert.deepEqual(new Set(replies.map((r) => r.status)), new Set([504]));
    for (const r of replies) assert.ok(r.ms >= 1000, `504 after ${r.ms} ms, before the 1 s timeout`);
    assert.ok(up.stats.accepted >= 200);
    await waitFor(() => up.stats.open === 0, 10_000); // the proxy closed them all
    const errors = () => dp.metrics('hang', 0).reduce((n, b) => n + (b.revisions[0]?.errors5xx ?? 0), 0);
    await waitFor(() => errors() === 200, 5000); // 504s count as the revision's 5xx
  });
});

test('an instance that never accepts: connect timeout, one retry, then 502; both attempts counted', async (t) => {
  // A listener whose accept queue is full: the kernel drops further SYNs, so connect() hangs.
  const py = spawn(
    'python3',
    [
      '-c',
      "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()",
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  t.after(() => py.kill());
  const upPort = await new Promise<number>((resolve) =>
    py.stdout.once('data', (d: Buffer) => resolve(Number(d.toString()))),
  );
  // Fill the queue (it holds one): the first connect completes, the rest hang, and so will the proxy's.
  const fillers = Array.from({ length: 8 }, () => net.connect(upPort, '127.0.0.1').on('error', () => {}));
  t.after(() => {
    for (const f of fillers) f.destroy();
  });
  await Promise.any(fillers.map((f) => new Promise((r) => f.once('connect', r))));
  await withPlane(async (dp) => {
    await dp.setRoutes(table('deaf', 1, [backend(1, 100, upPort)], { timeouts: timeouts({ connect: 500 }) }));
    const port = dp.port('deaf') as number;
    const t0 = performance.now();
    const r = await request(port);
    const ms = performance.now() - t0;
    assert.equal(r.status, 502);
    assert.ok(ms >= 1000, `502 after ${ms} ms: two attempts of at least 500 ms each`);
    const failures = () =>
      dp.metrics('deaf', 0).reduce((n, b) => n + (b.revisions[0]?.connectFailures ?? 0), 0);
    await waitFor(() => failures() === 2, 5000);
  });
});

test('a client that sends half a head gets 408 and is closed; trickling bytes does not extend the deadline', async (t) => {
  const up = await rawUpstream(t, (s) => s.resume());
  await withPlane(async (dp) => {
    await dp.setRoutes(
      table('slow', 1, [backend(1, 100, up.port)], { timeouts: timeouts({ clientHeader: 1000 }) }),
    );
    const port = dp.port('slow') as number;
    const half = await untilClosed(port, 'GET / HTTP/1.1\r\nHost: x\r\n');
    assert.match(half.text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(half.text, /connection: close/);
    assert.ok(half.ms >= 1000, `closed after ${half.ms} ms`);

    // Slowloris: one header byte every 100 ms, never finishing.
    const s = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    s.on('data', (c: Buffer) => got.push(c));
    s.on('error', () => {});
    s.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const drip = setInterval(() => s.writable && s.write('a'), 100);
    await new Promise((r) => s.on('close', r));
    clearInterval(drip);
    assert.match(Buffer.concat(got).toString('latin1'), /^HTTP\/1\.1 408 /);
    assert.equal(up.stats.accepted, 0, 'the upstream saw nothing');
  });
});

test('idle keep-alive connections close after the idle timeout; a client that stops reading is cut after the send timeout', async (t) => {
  // Upstream: /stream sends forever (while the socket takes it); anything else is a small 200.
  let streaming: net.Socket | undefined;
  const up = await rawUpstream(t, (s) => {
    s.on('data', (d: Buffer) => {
      if (!d.toString('latin1').startsWith('GET /stream')) {
        s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        return;
      }
      streaming = s;
      s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n');
      const chunk = Buffer.from(`10000\r\n${'x'.repeat(0x10000)}\r\n`, 'latin1');
      const pump = (): void => {
        while (!s.destroyed && s.write(chunk)) {}
      };
      s.on('drain', pump);
      pump();
    });
  });
  await withPlane(async (dp) => {
    await dp.setRoutes(
      table('idle', 1, [backend(1, 100, up.port)], { timeouts: timeouts({ idle: 1000, send: 1000 }) }),
    );
    const port = dp.port('idle') as number;
    const first = await untilClosed(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(first.text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*ok$/);
    assert.ok(first.ms >= 1000, `idle connection closed after ${first.ms} ms`);

    // A client that never reads a streaming response: both sockets close.
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.pause();
    s.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => streaming !== undefined, 10_000);
    await waitFor(() => streaming?.destroyed === true, 20_000); // the proxy closed the upstream
    s.destroy();
  });
});

test('an upstream that floods informational 1xx heads at a client that stops reading is cut after the send timeout', async (t) => {
  let flooding: net.Socket | undefined;
  const up = await rawUpstream(t, (s) => {
    s.once('data', () => {
      flooding = s;
      const hint = Buffer.from('HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n'.repeat(512));
      const pump = (): void => {
        while (!s.destroyed && s.write(hint)) {}
      };
      s.on('drain', pump);
      pump();
    });
  });
  await withPlane(async (dp) => {
    await dp.setRoutes(table('hints', 1, [backend(1, 100, up.port)], { timeouts: timeouts({ send: 1000 }) }));
    const s = net.connect(dp.port('hints') as number, '127.0.0.1');
    t.after(() => s.destroy());
    s.on('error', () => {});
    s.pause();
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => flooding !== undefined, 10_000);
    // Without backpressure on 1xx heads the upstream is read forever and nothing ever times out.
    await waitFor(() => flooding?.destroyed === true, 20_000);
  });
});

test('removing an app while a request hangs upstream: the response timeout still answers 504 and the removal ends', async (t) => {
  let hung = false;
  const up = await rawUpstream(t, (s) => s.once('data', () => (hung = true))); // never answers
  await withPlane(async (dp) => {
    await dp.setRoutes(
      table('drain', 1, [backend(1, 100, up.port)], { timeouts: timeouts({ response: 1000 }) }),
    );
    const reply = request(dp.port('drain') as number);
    await waitFor(() => hung, 10_000);
    await dp.removeApp('drain');
    assert.equal((await reply).status, 504);
  });
});

test('beyond maxConnections per worker: 503 with Retry-After; a slot frees when a connection closes', async (t) => {
  const up = await rawUpstream(t, (s) =>
    s.on('data', () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')),
  );
  await withPlane(async (dp) => {
    await dp.setRoutes(table('few', 1, [backend(1, 100, up.port)], { maxConnections: 2 }));
    const port = dp.port('few') as number;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    const held = await Promise.all([request(port, { agent }), request(port, { agent })]);
    assert.deepEqual(
      held.map((r) => r.status),
      [200, 200],
    );
    const over = await untilClosed(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(over.text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.match(over.text, /\r\nretry-after: 1\r\n/);
    assert.match(over.text, /Too many connections/);
    // Once the two held connections are gone, a new one is served.
    agent.destroy();
    const until = Date.now() + 10_000;
    let after = 0;
    while (after !== 200 && Date.now() < until) after = (await request(port)).status;
    assert.equal(after, 200);
  });
});

test('stale pooled socket: a POST is never replayed (502, the backend saw it once); a GET is retried once', async (t) => {
  // Each upstream connection answers its first request with keep-alive, then closes as the next
  // one arrives (the keep-alive race, made certain). `seen` records what arrived on each socket.
  const seen: string[] = [];
  const up = await rawUpstream(t, (s) => {
    let served = false;
    s.on('data', (d: Buffer) => {
      seen.push(d.toString('latin1').split(' ')[0] as string);
      if (served) {
        s.destroy();
        return;
      }
      served = true;
      s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
    });
  });
  await withPlane(async (dp) => {
    await dp.setRoutes(table('post', 1, [backend(1, 100, up.port)]));
    const port = dp.port('post') as number;
    assert.equal((await request(port)).status, 200); // leaves a pooled socket
    const post = await request(port, { method: 'POST', body: 'pay=1' });
    assert.equal(post.status, 502);
    assert.equal(seen.filter((m) => m === 'POST').length, 1, 'the POST reached the backend once');
    const patch = await request(port, { method: 'PATCH', body: 'x' });
    assert.equal(patch.status, 200, 'a fresh socket (the pool was emptied) serves it');
    const get = await request(port); // the PATCH's socket is pooled and closes on this GET
    assert.equal(get.status, 200);
    assert.deepEqual(seen, ['GET', 'POST', 'PATCH', 'GET', 'GET']);
    assert.equal(up.stats.accepted, 3);
  });
});

/** The data plane in a child process, serving `t`; returns its port and a way to read its RSS. */
async function proxyProcess(
  t: RouteTable,
): Promise<{ port: number; rss: () => Promise<number>; child: ChildProcess }> {
  const child = fork(
    new URL('../../../../test/support/proxy-process.ts', import.meta.url),
    [JSON.stringify(t)],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`proxy process exited (${code})`)));
  });
  const rss = () =>
    new Promise<number>((resolve) => {
      child.once('message', (m) => resolve((m as { rss: number }).rss));
      child.send('rss');
    });
  return { port, rss, child };
}

test('tunnel backpressure: 400 MB pushed through an upgraded connection at an upstream that stops reading; proxy memory stays bounded', async (t) => {
  const TOTAL = 400 * 1024 * 1024;
  let received = 0;
  let upSocket: net.Socket | undefined;
  const up = await rawUpstream(t, (s) => {
    let head = '';
    const onHead = (d: Buffer): void => {
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onHead);
      received += Buffer.byteLength(head.slice(end + 4), 'latin1');
      s.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: test\r\n\r\n');
      s.pause(); // stops reading
      s.on('data', (c: Buffer) => {
        received += c.length;
      });
      upSocket = s;
    };
    s.on('data', onHead);
  });
  const proxy = await proxyProcess(table('ws', 1, [backend(1, 100, up.port)]));
  try {
    const client = net.connect(proxy.port, '127.0.0.1');
    client.on('error', () => {});
    await new Promise<void>((resolve) => {
      let got = '';
      client.on('data', function onData(d: Buffer) {
        got += d.toString('latin1');
        if (got.includes('\r\n\r\n')) {
          assert.match(got, /^HTTP\/1\.1 101 /);
          client.off('data', onData);
          resolve();
        }
      });
      client.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n');
    });
    await waitFor(() => upSocket !== undefined);
    const base = await proxy.rss();
    let peak = base;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await proxy.rss());
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    // Push with the client's own backpressure. The upstream reads nothing until the client has
    // been held back for a second (or, with no backpressure in the proxy, has pushed half).
    const chunk = Buffer.alloc(1024 * 1024, 120);
    let sent = 0;
    let heldAt = -1;
    let resumed = false;
    const resumeUpstream = (): void => {
      if (!resumed) {
        resumed = true;
        upSocket?.resume();
      }
    };
    while (sent < TOTAL) {
      sent += chunk.length;
      if (sent >= TOTAL / 2) resumeUpstream();
      if (client.write(chunk)) continue;
      await new Promise<void>((resolve) => {
        const held = resumed
          ? undefined
          : setTimeout(() => {
              heldAt = sent;
              resumeUpstream();
            }, 1000);
        client.once('drain', () => {
          clearTimeout(held);
          resolve();
        });
      });
    }
    await waitFor(() => received === TOTAL, 120_000);
    sampling = false;
    await sampler;
    client.destroy();
    const growth = (peak - base) / 1024 / 1024;
    assert.ok(growth < 150, `proxy RSS grew ${growth.toFixed(0)} MB while 400 MB went through`);
    assert.ok(heldAt > 0 && heldAt < TOTAL / 2, `the client was held back (after ${heldAt} bytes)`);
  } finally {
    proxy.child.disconnect();
    await new Promise((r) => proxy.child.once('exit', r));
  }
});
