// A data plane in a process of its own, for tests that measure the proxy's memory: forked with a
// route table as JSON, it sends back { port }, then answers 'rss' with { rss } (bytes).

import { createDataPlane } from './data-plane.ts';
import type { RouteTable } from './types.ts';

const send = process.send?.bind(process);
if (send === undefined) throw new Error('test-proxy-process must be forked with an IPC channel');
const table = JSON.parse(process.argv[2] ?? '') as RouteTable;
const dp = await createDataPlane({ workers: 1 });
await dp.setRoutes(table);
send({ port: dp.port(table.app) });
process.on('message', (m) => {
  if (m === 'rss') send({ rss: process.memoryUsage.rss() });
});
process.on('disconnect', () => {
  void dp.close().finally(() => process.exit(0));
});
