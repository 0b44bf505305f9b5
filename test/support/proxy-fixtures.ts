// Helpers for the data-plane tests: real upstream servers and a keep-alive HTTP client.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type { Backend, RouteTable } from '../../src/providers/builtin/proxy/types.ts';

export interface TestUpstream {
  readonly port: number;
  readonly server: http.Server;
  /** TCP connections accepted so far / currently open. */
  readonly stats: { accepted: number; open: number; requests: number };
  close(): Promise<void>;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, name: string) => void;

/** Default handler: echoes name, method and request body. */
export const echo: Handler = (req, res, name) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    res.setHeader('x-upstream', name);
    res.setHeader('x-received-length', String(body.length));
    res.setHeader('x-forwarded-for-seen', String(req.headers['x-forwarded-for'] ?? ''));
    res.end(body.length > 0 ? body : name);
  });
};

export function upstream(name: string, handler: Handler = echo, port = 0): Promise<TestUpstream> {
  const stats = { accepted: 0, open: 0, requests: 0 };
  const server = http.createServer((req, res) => {
    stats.requests++;
    handler(req, res, name);
  });
  server.on('connection', (s) => {
    stats.accepted++;
    stats.open++;
    s.on('close', () => stats.open--);
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        server,
        stats,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}

/** A port with nothing listening on it. */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export function backend(revision: number, weight: number, ...ports: number[]): Backend {
  return { revision, weight, upstreams: ports.map((port) => ({ host: '127.0.0.1', port })) };
}

export function table(
  app: string,
  version: number,
  backends: Backend[],
  extra: Partial<RouteTable> = {},
): RouteTable {
  return {
    app,
    version,
    listen: { host: '127.0.0.1', port: 0 },
    backends,
    forceHeader: 'x-rewind-revision',
    stickyHeader: 'x-user',
    stickyCookie: 'uid',
    ...extra,
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export function request(
  port: number,
  opts: {
    path?: string;
    method?: string;
    headers?: http.OutgoingHttpHeaders;
    body?: Buffer | string | (Buffer | string)[];
    agent?: http.Agent;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: opts.path ?? '/',
        method: opts.method ?? 'GET',
        headers: opts.headers,
        agent: opts.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    const b = opts.body;
    if (Array.isArray(b)) {
      for (const part of b) req.write(part);
      req.end();
    } else {
      req.end(b);
    }
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(10);
  }
}

/** Raw TCP exchange: send bytes, collect everything until the server closes or `untilBytes`. */
export function rawExchange(port: number, data: string | Buffer, idleMs = 300): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      clearTimeout(timer);
      timer = setTimeout(done, idleMs);
    });
    s.on('end', done);
    s.on('error', reject);
    s.write(data);
  });
}
