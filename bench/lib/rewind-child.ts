// Runs Rewind's data plane in its own process for the benchmark.
// Usage: node bench/lib/rewind-child.ts LISTEN_PORT PORT_A PORT_B [WORKERS]
// Prints "ready PORT" once every worker serves the 90/10 table.

import { createDataPlane } from '../../src/providers/builtin/proxy/data-plane.ts';

const [listen, a, b, workers] = process.argv.slice(2).map(Number);
const dp = await createDataPlane(workers ? { workers } : {});
await dp.setRoutes({
  app: 'bench',
  version: 1,
  listen: { host: '127.0.0.1', port: listen ?? 0 },
  forceHeader: 'x-rewind-revision',
  backends: [
    { revision: 1, weight: 90, upstreams: [{ host: '127.0.0.1', port: a as number }] },
    { revision: 2, weight: 10, upstreams: [{ host: '127.0.0.1', port: b as number }] },
  ],
});
console.log(`ready ${dp.port('bench')}`);
const stop = (): void => {
  dp.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
