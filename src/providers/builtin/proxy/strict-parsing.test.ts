// The proxy fails safe on hostile input: every malformed request head or chunked body is answered
// 400 (414/431/501/505) and closed before any byte reaches the upstream; hop-by-hop fields are
// removed both ways; the force header is honoured only from trusted sources or with the secret.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import {
  backend,
  rawExchange,
  request,
  table,
  upstream,
  waitFor,
} from '../../../../test/support/proxy-fixtures.ts';
import { createDataPlane, type RewindDataPlane } from './data-plane.ts';
import type { RouteTable } from './types.ts';

/** A raw upstream that records every byte it receives and answers each head with `response`. */
async function recorder(response = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok') {
  let seen: Buffer[] = [];
  let open = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    open++;
    sockets.add(s);
    s.on('close', () => {
      open--;
      sockets.delete(s);
    });
    s.on('data', (c: Buffer) => {
      seen.push(c);
      if (c.includes('\r\n\r\n')) s.write(response);
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    text: () => Buffer.concat(seen).toString('latin1'),
    reset: () => {
      seen = [];
    },
    open: () => open,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
}

async function withProxy(
  upstreamPort: number,
  fn: (port: number, dp: RewindDataPlane) => Promise<void>,
  extra: Partial<RouteTable> = {},
): Promise<void> {
  const dp = await createDataPlane({ workers: 1 });
  try {
    await dp.setRoutes(table('app', 1, [backend(1, 100, upstreamPort)], extra));
    await fn(dp.port('app') as number, dp);
  } finally {
    await dp.close();
  }
}

const long = (n: number): string => 'a'.repeat(n);
const H = 'Host: x\r\n';

const MALFORMED: [string, string, number][] = [
  ['bare LF ending a field line', `GET / HTTP/1.1\r\n${H}X-A: a\nX-B: b\r\n\r\n`, 400],
  ['bare CR inside a value', `GET / HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`, 400],
  ['NUL in a value', `GET / HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n`, 400],
  ['control byte in a value', `GET / HTTP/1.1\r\n${H}X-A: a\x01b\r\n\r\n`, 400],
  ['DEL in a value', `GET / HTTP/1.1\r\n${H}X-A: a\x7fb\r\n\r\n`, 400],
  ['whitespace before the colon', `GET / HTTP/1.1\r\n${H}Content-Length : 3\r\n\r\nabc`, 400],
  ['obs-fold continuation line', `GET / HTTP/1.1\r\n${H}X-A: a\r\n folded\r\n\r\n`, 400],
  ['invalid character in a field name', `GET / HTTP/1.1\r\n${H}X[A]: a\r\n\r\n`, 400],
  ['empty field name', `GET / HTTP/1.1\r\n${H}: a\r\n\r\n`, 400],
  ['invalid character in the method', `GE(T / HTTP/1.1\r\n${H}\r\n`, 400],
  ['unknown method', `FROB / HTTP/1.1\r\n${H}\r\n`, 501],
  ['CONNECT', `CONNECT x:443 HTTP/1.1\r\n${H}\r\n`, 501],
  ['control byte in the target', `GET /a\x7fb HTTP/1.1\r\n${H}\r\n`, 400],
  ['non-ASCII byte in the target', `GET /\xe9 HTTP/1.1\r\n${H}\r\n`, 400],
  ['target neither origin- nor absolute-form', `GET a/b HTTP/1.1\r\n${H}\r\n`, 400],
  ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\n\r\n', 400],
  ['two Host fields', `GET / HTTP/1.1\r\n${H}Host: y\r\n\r\n`, 400],
  ['invalid Host', `GET / HTTP/1.1\r\nHost: a b\r\n\r\n`, 400],
  ['unsupported version', `GET / HTTP/2.0\r\n${H}\r\n`, 505],
  ['malformed version', `GET / HTTP/1.x\r\n${H}\r\n`, 400],
  [
    'Transfer-Encoding: chunked, identity',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`,
    400,
  ],
  [
    'Transfer-Encoding: gzip, chunked',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`,
    501,
  ],
  [
    'Transfer-Encoding twice',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    400,
  ],
  ['Transfer-Encoding in HTTP/1.0', `POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  [
    'Transfer-Encoding with Content-Length',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`,
    400,
  ],
  [
    'two differing Content-Length',
    `POST / HTTP/1.1\r\n${H}Content-Length: 0\r\nContent-Length: 3\r\n\r\nabc`,
    400,
  ],
  ['Content-Length list', `POST / HTTP/1.1\r\n${H}Content-Length: 3, 3\r\n\r\nabc`, 400],
  ['Content-Length with a sign', `POST / HTTP/1.1\r\n${H}Content-Length: +3\r\n\r\nabc`, 400],
  [
    'chunk size overflow',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n`,
    400,
  ],
  [
    'chunk size with whitespace',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n`,
    400,
  ],
  [
    'chunk extension with a control byte',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;a=\x01\r\nabc\r\n0\r\n\r\n`,
    400,
  ],
  [
    'chunk extension with a bare LF',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;a\nb\r\nabc\r\n0\r\n\r\n`,
    400,
  ],
  [
    'chunk data not ended by CRLF',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n`,
    400,
  ],
  [
    'trailer ended by a bare LF',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\nT: v\n\r\n`,
    400,
  ],
  [
    'invalid trailer line',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\nT : v\r\n\r\n`,
    400,
  ],
  ['request line over 8 KB', `GET /${long(9000)} HTTP/1.1\r\n${H}\r\n`, 414],
  ['header line over 8 KB', `GET / HTTP/1.1\r\n${H}X-A: ${long(9000)}\r\n\r\n`, 431],
  ['head over 64 KB', `GET / HTTP/1.1\r\n${H}${`X-A: ${long(8000)}\r\n`.repeat(9)}\r\n`, 431],
];

test('every malformed request class: 400/414/431/501/505, connection closed, upstream sees nothing', async () => {
  const rec = await recorder();
  await withProxy(rec.port, async (port) => {
    for (const [name, raw, status] of MALFORMED) {
      const reply = await rawExchange(port, Buffer.from(raw, 'latin1'));
      assert.match(
        reply,
        new RegExp(`^HTTP/1\\.1 ${status} `),
        `${name}: ${JSON.stringify(reply.slice(0, 40))}`,
      );
      assert.match(reply, /connection: close/, `${name}: closes`);
      // A valid request afterwards: the recorder must hold it alone (the bad one would be first).
      const ok = await rawExchange(port, `GET /after HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
      assert.match(ok, /^HTTP\/1\.1 200 /, name);
      assert.match(
        rec.text(),
        /^GET \/after HTTP\/1\.1\r\n/,
        `${name}: the upstream saw only the valid request`,
      );
      assert.equal(rec.text().split('HTTP/1.1\r\n').length, 2, name);
      rec.reset();
    }
  });
  await rec.close();
});

test('head limits are configurable per app (proxy.limits): 414 and 431 at the configured sizes', async () => {
  const rec = await recorder();
  await withProxy(
    rec.port,
    async (port) => {
      assert.match(await rawExchange(port, `GET /${long(200)} HTTP/1.1\r\n${H}\r\n`), /^HTTP\/1\.1 414 /);
      assert.match(
        await rawExchange(port, `GET / HTTP/1.1\r\n${H}X-A: ${long(300)}\r\n\r\n`),
        /^HTTP\/1\.1 431 /,
      );
      assert.match(
        await rawExchange(port, `GET / HTTP/1.1\r\n${H}${'X-A: aaaa\r\n'.repeat(200)}\r\n`),
        /^HTTP\/1\.1 431 /,
      );
      const ok = await rawExchange(
        port,
        `GET /${long(50)} HTTP/1.1\r\n${H}X-A: ${long(100)}\r\nConnection: close\r\n\r\n`,
      );
      assert.match(ok, /^HTTP\/1\.1 200 /);
      assert.equal(rec.text().split('HTTP/1.1\r\n').length, 2, 'only the request within limits arrived');
    },
    { limits: { requestLine: 100, headerLine: 200, head: 1024 } },
  );
  await rec.close();
});

test('a chunked body broken mid-stream: 400 to the client, the upstream connection is cut', async () => {
  const rec = await recorder(''); // never answers: the proxy is still sending the body
  await withProxy(rec.port, async (port) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    s.write(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n`);
    await waitFor(() => rec.text().includes('abc'));
    s.write('3;a=\x00\r\nGET /smuggled HTTP/1.1\r\n\r\n');
    await closed;
    assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 400 /);
    await waitFor(() => rec.open() === 0);
    assert.doesNotMatch(rec.text(), /smuggled/);
  });
  await rec.close();
});

const PY_BACKEND = `
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def handle_any(self):
        n = int(self.headers.get('Content-Length') or 0)
        if n: self.rfile.read(n)
        body = self.path.encode()
        sys.stdout.write('saw ' + self.command + ' ' + self.path + '\\n'); sys.stdout.flush()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = handle_any
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
print('ready', s.server_address[1], flush=True)
s.serve_forever()
`;

test("the issue's smuggling reproduction against a bare-LF backend (Python http.server): rejected, an innocent client on the pooled connection only ever gets its own responses", async () => {
  const py: ChildProcess = spawn('python3', ['-c', PY_BACKEND], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  py.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  try {
    await waitFor(() => /ready \d+/.test(out), 10_000);
    const pyPort = Number(/ready (\d+)/.exec(out)?.[1]);
    await withProxy(pyPort, async (port) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      // Warm a pooled upstream connection for the innocent client.
      assert.equal((await request(port, { path: '/innocent/0', agent })).body.toString(), '/innocent/0');
      const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
      const attack =
        'POST /attack HTTP/1.1\r\nHost: x\r\nX-A: a\nContent-Length: 0\r\n' +
        `Content-Length: ${smuggled.length}\r\n\r\n${smuggled}`;
      for (let round = 0; round < 5; round++) {
        assert.match(await rawExchange(port, attack), /^HTTP\/1\.1 400 /);
        for (let i = 1; i <= 5; i++) {
          const r = await request(port, { path: `/innocent/${round}-${i}`, agent });
          assert.equal(r.status, 200);
          assert.equal(r.body.toString(), `/innocent/${round}-${i}`, 'never the smuggled response');
        }
      }
      agent.destroy();
    });
    assert.doesNotMatch(out, /attack|smuggled/, 'the backend never saw the attack');
    assert.match(out, /saw GET \/innocent\/4-5/);
  } finally {
    py.kill('SIGKILL');
  }
});

test('hop-by-hop fields and those named in Connection are removed in requests and responses', async () => {
  let seen: http.IncomingHttpHeaders = {};
  const up = await upstream('A', (req, res) => {
    seen = req.headers;
    res.setHeader('connection', 'x-secret');
    res.setHeader('x-secret', 'internal');
    res.setHeader('proxy-authenticate', 'Basic');
    res.setHeader('trailer', 'x-t');
    res.setHeader('x-kept', 'yes');
    res.end('ok');
  });
  await withProxy(up.port, async (port) => {
    const reply = await rawExchange(
      port,
      'GET / HTTP/1.1\r\nHost: x\r\nConnection: x-drop, keep-alive\r\nX-Drop: 1\r\nKeep-Alive: timeout=9\r\n' +
        'TE: trailers\r\nTrailer: x-t\r\nProxy-Authorization: Basic eA==\r\nProxy-Connection: keep-alive\r\n' +
        'Upgrade: h2c\r\nX-Kept: yes\r\nx-rewind-revision: 1\r\n\r\n',
    );
    for (const name of [
      'x-drop',
      'keep-alive',
      'te',
      'trailer',
      'proxy-authorization',
      'proxy-connection',
      'upgrade',
      'x-rewind-revision',
    ]) {
      assert.equal(seen[name], undefined, `request field ${name} removed`);
    }
    assert.notEqual(seen.connection, 'x-drop, keep-alive');
    assert.equal(seen['x-kept'], 'yes');
    const head = reply.slice(0, reply.indexOf('\r\n\r\n')).toLowerCase();
    assert.match(head, /^http\/1\.1 200 /);
    for (const name of ['x-secret', 'proxy-authenticate', 'trailer', 'keep-alive', 'connection'])
      assert.doesNotMatch(head, new RegExp(`\\r\\n${name}:`), `response field ${name} removed`);
    assert.match(head, /\r\nx-kept: yes/);
  });
  await up.close();
});

test('absolute-form targets go upstream in origin-form, Host checked against or set from the authority', async () => {
  const seen: { url: string; host: string }[] = [];
  const up = await upstream('A', (req, res) => {
    seen.push({ url: req.url ?? '', host: req.headers.host ?? '' });
    res.end('ok');
  });
  await withProxy(up.port, async (port) => {
    assert.match(
      await rawExchange(port, 'GET http://x/p?q=1 HTTP/1.1\r\nHost: X\r\n\r\n'),
      /^HTTP\/1\.1 200 /,
    );
    assert.match(await rawExchange(port, 'GET http://x:8080?q HTTP/1.1\r\n\r\n'), /^HTTP\/1\.1 200 /);
    assert.match(await rawExchange(port, 'GET http://x/p HTTP/1.1\r\nHost: y\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.match(await rawExchange(port, 'GET http://u@x/p HTTP/1.1\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 400 /);
  });
  assert.deepEqual(seen, [
    { url: '/p?q=1', host: 'X' },
    { url: '/?q', host: 'x:8080' },
  ]);
  await up.close();
});

test('the force header: honoured from trusted sources or with the secret, always stripped', async () => {
  const a = await upstream('A', (req, res) => res.end(`A ${req.headers['x-rewind-revision'] ?? '-'}`));
  const b = await upstream('B', (req, res) => res.end(`B ${req.headers['x-rewind-revision'] ?? '-'}`));
  const dp = await createDataPlane({ workers: 1 });
  try {
    const routes = [backend(1, 100, a.port), backend(2, 0, b.port)];
    await dp.setRoutes(table('app', 1, routes));
    const port = dp.port('app') as number;
    const as = (value: string) => request(port, { headers: { 'x-rewind-revision': value } });
    // Default: loopback is trusted.
    assert.equal((await as('2')).body.toString(), 'B -');
    // Loopback no longer trusted: ignored (and still stripped) unless the value carries the secret.
    await dp.setRoutes(table('app', 2, routes, { trustedSources: ['10.0.0.0/8'], forceSecret: 's3cret' }));
    assert.equal((await as('2')).body.toString(), 'A -');
    assert.equal((await as('2:wrong')).body.toString(), 'A -');
    assert.equal((await as('2:s3cret')).body.toString(), 'B -');
    // Without a secret configured, no value can force from an untrusted source.
    await dp.setRoutes(table('app', 3, routes, { trustedSources: ['10.0.0.0/8'] }));
    assert.equal((await as('2:')).body.toString(), 'A -');
    assert.equal((await as('2')).body.toString(), 'A -');
  } finally {
    await dp.close();
  }
  await a.close();
  await b.close();
});

test('strict response heads: an invalid upstream head is answered 502, never passed on', async () => {
  const bad = [
    'HTTP/1.1 200 OK\r\nX-A : b\r\ncontent-length: 2\r\n\r\nok',
    'HTTP/1.1 200 OK\r\nX-A: a\nContent-Length: 2\r\n\r\nok',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n',
    'HTTP/1.1 200 OK\r\nX-A: a\r\n folded\r\nContent-Length: 2\r\n\r\nok',
    'HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok',
  ];
  for (const response of bad) {
    const rec = await recorder(response);
    await withProxy(rec.port, async (port) => {
      const reply = await rawExchange(port, `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
      assert.match(reply, /^HTTP\/1\.1 502 /, JSON.stringify(response));
    });
    await rec.close();
  }
  // A broken chunked response body: 502 when it is seen before the head went out, else a cut
  // connection; never a complete response.
  const rec = await recorder(
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nT: v\n\r\n',
  );
  await withProxy(rec.port, async (port) => {
    const outcome = await request(port).then(
      (r) => `status ${r.status}`,
      () => 'cut',
    );
    assert.ok(outcome === 'status 502' || outcome === 'cut', outcome);
  });
  await rec.close();
});

test('an upgrade keeps Connection: upgrade and Upgrade, then tunnels both ways', async () => {
  const up = await upstream('A');
  let seen: http.IncomingHttpHeaders = {};
  let tunnel: net.Socket | undefined;
  up.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    seen = req.headers;
    tunnel = socket;
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n');
    socket.on('data', (d: Buffer) => socket.write(`echo:${d.toString()}`));
  });
  await withProxy(up.port, async (port) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n') && !got.includes('ping')) s.write('ping');
    });
    s.write(
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: echo\r\nX-Drop: 1\r\n\r\n',
    );
    await waitFor(() => got.includes('echo:ping'));
    s.destroy();
    assert.match(got, /^HTTP\/1\.1 101 /);
    assert.match(got, /\r\nUpgrade: echo\r\n/);
    assert.equal(seen.upgrade, 'echo');
    assert.equal(seen.connection, 'upgrade');
  });
  tunnel?.destroy(); // an upgraded socket is the server's no longer: close() would wait for it
  await up.close();
});
