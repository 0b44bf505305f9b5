import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppProviders } from '../../providers/registry.ts';
import type { Runtime, UsageQuery } from '../../providers/runtime.ts';
import { appSpecSchema } from '../../spec/app-spec.ts';
import { readRevisionResources } from './revision-resources.ts';

const spec = appSpecSchema.parse({
  name: 'shop',
  listen: '127.0.0.1:8080',
  run: { command: 'true' },
  logs: { errorPattern: 'E\\d+' },
});
const NOW = 1_800_000_100_500;

function appWith(runtime: Partial<Runtime>) {
  return { spec, providers: { runtime } as unknown as AppProviders };
}

test("a revision's latest usage, read with the app's pattern from two minutes back", async () => {
  const queries: UsageQuery[] = [];
  const r = await readRevisionResources(
    appWith({
      usage: async (_app, query) => {
        queries.push(query);
        return {
          phase: 'Successful',
          capacity: { cpuCores: 2, memoryBytes: 1000, scope: 'host' },
          samples: [
            {
              second: 1_800_000_099,
              instances: [
                {
                  instance: 'shop/3/0',
                  revision: 3,
                  cpuCores: 1.2,
                  memoryBytes: 600,
                  logLines: 9,
                  logErrors: 2,
                },
                {
                  instance: 'shop/4/0',
                  revision: 4,
                  cpuCores: 0.1,
                  memoryBytes: 100,
                  logLines: 1,
                  logErrors: 0,
                },
              ],
            },
          ],
        };
      },
    }),
    3,
    { now: NOW },
  );
  assert.deepEqual(queries, [{ sinceSecond: 1_799_999_980, errorPattern: 'E\\d+' }]);
  assert.equal(r.second, 1_800_000_099);
  assert.equal(r.cpu, 0.6);
  assert.equal(r.memory, 0.6);
  assert.equal(r.logErrorsPerMinute, 2);
});

test('a runtime that measures nothing says so', async () => {
  const r = await readRevisionResources(appWith({}), 3, { now: NOW });
  assert.equal(r.cpu, null);
  assert.match(r.error ?? '', /the process runtime of shop measures no CPU, memory or error lines/);
});
