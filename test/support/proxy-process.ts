// A data plane in a process of its own, for tests that measure the proxy's memory: forked with a
// route table as JSON, it sends back { port }, then answers 'rss' with { rss } (bytes).

import { createDataPlane } from '../../src/providers/builtin/proxy/data-plane.ts';
import type { RouteTable } from '../../src/providers/builtin/proxy/types.ts';

const send = process.send?.bind(process);
if (send === undefined) throw new Error('proxy-process must be forked with an IPC channel');
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
