import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appSpecSchema } from '../../../spec/app-spec.ts';
import type { InstanceHealth } from '../../health-source.ts';
import type { Instance } from '../../runtime.ts';
import type { TrafficPlan } from '../../traffic-router.ts';
import { composeTable } from './compose-table.ts';

const app = appSpecSchema.parse({ name: 'shop', listen: '8080', run: { command: 'x' } });

const instance = (
  unit: number,
  index: number,
  host: string,
  phase: Instance['phase'] = 'Running',
): Instance => ({
  id: `shop/${unit}/${index}`,
  app: 'shop',
  revision: unit,
  index,
  phase,
  pid: 100 + index,
  port: 9000 + index,
  address: { host, port: 9000 + index },
  restarts: 0,
  startedAt: 0,
  lastExit: null,
  reason: null,
});

const plan: TrafficPlan = {
  app: 'shop',
  // Revision 5 is a rollback's copy of 3: served by unit 3's instances.
  revisions: [
    { revision: 5, unit: 3, weight: 100 },
    { revision: 4, unit: 4, weight: 0 },
  ],
  match: { forceHeader: 'x-rewind-revision', stickyHeader: 'x-user-id' },
};

test("each revision gets its unit's running instances at their addresses, without the unhealthy ones", () => {
  const instances = [
    instance(3, 0, '10.0.0.7'),
    instance(3, 1, '10.0.0.8'),
    instance(3, 2, '10.0.0.9', 'Starting'),
    instance(4, 0, '10.0.0.10'),
  ];
  const health = (id: string): InstanceHealth => (id === 'shop/3/1' ? 'Unhealthy' : 'Healthy');
  const table = composeTable(app, plan, instances, health, 7);
  assert.deepEqual(table.backends, [
    { revision: 5, weight: 100, upstreams: [{ host: '10.0.0.7', port: 9000 }] },
    { revision: 4, weight: 0, upstreams: [{ host: '10.0.0.10', port: 9000 }] },
  ]);
  assert.equal(table.version, 7);
  assert.equal(table.stickyHeader, 'x-user-id');
  assert.deepEqual(table.listen, { host: '127.0.0.1', port: 8080 });
});

test('when every instance of a revision looks unhealthy, they all stay in (fail open)', () => {
  const table = composeTable(app, plan, [instance(3, 0, 'a'), instance(3, 1, 'b')], () => 'Unhealthy', 1);
  assert.equal(table.backends[0]!.upstreams.length, 2);
});
