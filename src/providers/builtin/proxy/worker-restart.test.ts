// A proxy worker that dies is replaced with every table in force; the others serve meanwhile.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backend, request, table, upstream, waitFor } from '../../../../test/support/proxy-fixtures.ts';
import { createDataPlane } from './data-plane.ts';

test('a dead proxy worker is replaced with the current table, and takes later tables too', async () => {
  const a = await upstream('A');
  const b = await upstream('B');
  const said: string[] = [];
  const dp = await createDataPlane({ workers: 2, log: (m) => said.push(m) });
  try {
    await dp.setRoutes(table('crash', 1, [backend(1, 100, a.port)]));
    const port = dp.port('crash') as number;
    assert.deepEqual(dp.health(), { workers: 2, up: 2, restarts: 0, lastExit: null });

    await dp.killWorker(0);
    // The survivor serves every new connection while the replacement comes up.
    for (let i = 0; i < 20; i++) assert.equal((await request(port)).body.toString(), 'A');
    await waitFor(() => dp.health().up === 2 && dp.health().restarts === 1, 30_000);
    const health = dp.health();
    assert.match(health.lastExit?.reason ?? '', /exited with code 1/);
    assert.match(said.join('\n'), /proxy worker \d+ died \(exited with code 1\); 1 of 2 serve; replacing it/);
    assert.match(said.join('\n'), /proxy worker \d+ started with 1 of 1 route tables/);

    // Every connection, whichever worker the kernel hands it to, sees the next table.
    await dp.setRoutes(table('crash', 2, [backend(2, 100, b.port)]));
    const seen = new Set<string>();
    for (let i = 0; i < 60; i++) seen.add((await request(port)).body.toString());
    assert.deepEqual([...seen], ['B']);
    // ...and the replacement listens: kill the original one, the replacement alone serves.
    await dp.killWorker(0);
    for (let i = 0; i < 20; i++) assert.equal((await request(port)).body.toString(), 'B');
    await waitFor(() => dp.health().up === 2 && dp.health().restarts === 2, 30_000);
  } finally {
    await dp.close();
    await a.close();
    await b.close();
  }
});
