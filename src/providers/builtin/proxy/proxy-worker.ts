// Worker thread entry: one proxy engine, driven by messages from the data plane (main thread).

import { parentPort } from 'node:worker_threads';
import { type AppRuntime, Engine } from './engine.ts';
import { compileRoute } from './routing.ts';
import { viewsOf } from './shared.ts';
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUTS, type RouteTable } from './types.ts';

export type WorkerRequest =
  | {
      readonly op: 'set';
      readonly id: number;
      readonly table: RouteTable;
      readonly sab: SharedArrayBuffer;
      readonly slots: readonly (readonly [number, number])[];
      /** Port to listen on (the resolved one when the table asks for port 0 and another worker bound it). */
      readonly port: number;
    }
  | { readonly op: 'remove'; readonly id: number; readonly app: string }
  | { readonly op: 'close'; readonly id: number };

export type WorkerReply =
  | {
      readonly id: number;
      readonly ok: true;
      readonly port?: number;
      /** When the operation took effect in this worker (epoch ms, sub-ms precision). */
      readonly at: number;
    }
  | { readonly id: number; readonly ok: false; readonly error: string };

const engine = new Engine();
const listening = new Map<string, { host: string; port: number; requested: number }>();
const port = parentPort;
if (port === null) throw new Error('proxy-worker must run in a worker thread');

async function handle(msg: WorkerRequest): Promise<number | undefined> {
  switch (msg.op) {
    case 'set': {
      const t = msg.table;
      const route = compileRoute(t, new Map(msg.slots), engine.poolFor);
      const app = engine.apps.get(t.app);
      const timeouts = t.timeouts ?? DEFAULT_TIMEOUTS;
      const maxConnections = t.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
      if (app === undefined) {
        const rt: AppRuntime = {
          name: t.app,
          route,
          shared: viewsOf(msg.sab),
          conns: new Set(),
          timeouts,
          maxConnections,
          server: null,
          closing: false,
        };
        engine.apps.set(t.app, rt);
        try {
          const bound = await engine.listen(rt, t.listen.host, msg.port);
          listening.set(t.app, { host: t.listen.host, port: bound, requested: t.listen.port });
          return bound;
        } catch (err) {
          engine.apps.delete(t.app);
          throw err;
        }
      }
      const cur = listening.get(t.app);
      if (cur !== undefined && (cur.host !== t.listen.host || cur.requested !== t.listen.port)) {
        // Listen address changed: open the new listener before closing the old one.
        const old = app.server;
        const bound = await engine.listen(app, t.listen.host, msg.port);
        old?.close();
        listening.set(t.app, { host: t.listen.host, port: bound, requested: t.listen.port });
      }
      app.route = route; // the atomic swap: requests read app.route once, when routed
      app.timeouts = timeouts;
      app.maxConnections = maxConnections;
      return listening.get(t.app)?.port;
    }
    case 'remove': {
      const app = engine.apps.get(msg.app);
      listening.delete(msg.app);
      if (app !== undefined) await engine.closeApp(app);
      return undefined;
    }
    case 'close':
      await engine.close();
      return undefined;
  }
}

port.on('message', (msg: WorkerRequest) => {
  handle(msg).then(
    (p) =>
      port.postMessage({
        id: msg.id,
        ok: true,
        port: p,
        at: performance.timeOrigin + performance.now(),
      } satisfies WorkerReply),
    (err: unknown) =>
      port.postMessage({
        id: msg.id,
        ok: false,
        error: err instanceof Error ? err.message : String(err),
      } satisfies WorkerReply),
  );
});
