import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { InstanceUsage, UsageCapacity, UsageRead, UsageSample } from '../../providers/runtime.ts';
import { addUsage, revisionUsage, summarizeResources, usageByRevision } from './resources.ts';
import { emptyPoint, type ResourceUsage } from './series.ts';

const MB = 1024 * 1024;
const host: UsageCapacity = { cpuCores: 2, memoryBytes: 1000 * MB, scope: 'host' };
const limits: UsageCapacity = { cpuCores: 0.5, memoryBytes: 256 * MB, scope: 'instance' };

function inst(
  revision: number,
  index: number,
  cpuCores: number | null,
  mb: number | null,
  errors = 0,
): InstanceUsage {
  return {
    instance: `shop/${revision}/${index}`,
    revision,
    cpuCores,
    memoryBytes: mb === null ? null : mb * MB,
    logLines: errors * 2,
    logErrors: errors,
  };
}

describe('revisionUsage: a revision is its instances together', () => {
  const sample: UsageSample = {
    second: 100,
    instances: [inst(1, 0, 0.5, 100, 3), inst(1, 1, 0.3, 200, 1), inst(2, 0, 1.5, 600, 9)],
  };
  const cases: [string, number, UsageCapacity, Partial<ResourceUsage> | null][] = [
    [
      'on a shared host: sums, and their share of the host',
      1,
      host,
      { cpuCores: 0.8, cpu: 0.4, memoryBytes: 300 * MB, memory: 0.3, logErrors: 4, logLines: 8 },
    ],
    [
      'with a limit per instance: sums, and the busiest instance against its limit',
      1,
      limits,
      { cpuCores: 0.8, cpu: 1, memoryBytes: 300 * MB, memory: 200 / 256 },
    ],
    ['another unit is not counted', 2, host, { cpuCores: 1.5, cpu: 0.75, logErrors: 9 }],
    ['a unit with no instance in the second has no usage', 3, host, null],
  ];
  for (const [what, unit, capacity, expected] of cases)
    test(what, () => {
      const got = revisionUsage(sample, unit, capacity);
      if (expected === null) return assert.equal(got, null);
      for (const [key, value] of Object.entries(expected))
        assert.ok(
          Math.abs((got![key as keyof ResourceUsage] ?? Number.NaN) - (value ?? Number.NaN)) < 1e-9,
          `${key}: ${got![key as keyof ResourceUsage]}`,
        );
    });

  test('an instance not measured this second (just restarted) is left out; none measured is null', () => {
    const partly = revisionUsage(
      { second: 1, instances: [inst(1, 0, null, null), inst(1, 1, 0.2, 50)] },
      1,
      host,
    );
    assert.equal(partly?.cpuCores, 0.2);
    assert.equal(partly?.memoryBytes, 50 * MB);
    const none = revisionUsage({ second: 1, instances: [inst(1, 0, null, null)] }, 1, host);
    assert.equal(none?.cpu, null);
    assert.equal(none?.memory, null);
    assert.equal(none?.logErrors, 0);
  });
});

describe('usageByRevision and addUsage', () => {
  const read: UsageRead = {
    phase: 'Successful',
    capacity: host,
    samples: [
      { second: 11, instances: [inst(3, 0, 0.4, 100)] },
      { second: 10, instances: [inst(3, 0, 0.2, 100), inst(5, 0, 0.1, 10)] },
    ],
  };

  test('maps the unit serving a revision to the revision, oldest second first', () => {
    // Revision 6 is a rollback's copy of revision 3, served by its instances.
    const by = usageByRevision(read, new Map([[3, 6]]));
    assert.deepEqual([...by.keys()], [6]);
    assert.deepEqual(
      by.get(6)!.map((p) => [p.second, p.usage.cpu]),
      [
        [10, 0.1],
        [11, 0.2],
      ],
    );
    assert.equal(usageByRevision({ phase: 'Error', error: 'x', samples: [] }, new Map([[3, 3]])).size, 0);
  });

  test('usage joins the traffic of its second; a second without traffic gets a point of unknown health', () => {
    const usage = usageByRevision(read, new Map([[3, 3]])).get(3)!;
    const traffic = [{ ...emptyPoint(10), requests: 7 }];
    const merged = addUsage(traffic, usage, () => undefined);
    assert.deepEqual(
      merged.map((p) => [p.second, p.requests, p.usage?.cpu, p.healthUnknown ?? false]),
      [
        [10, 7, 0.1, false],
        [11, 0, 0.2, true],
      ],
    );
  });

  test('traffic read again for a second keeps the usage the series holds for it', () => {
    const held = { ...emptyPoint(10), usage: usageByRevision(read, new Map([[3, 3]])).get(3)![0]!.usage };
    const [again] = addUsage([{ ...emptyPoint(10), requests: 9 }], [], (s) => (s === 10 ? held : undefined));
    assert.equal(again!.requests, 9);
    assert.equal(again!.usage?.cpu, 0.1);
  });
});

describe('summarizeResources: what the watches read', () => {
  test('CPU and memory averaged over the newest seconds, error lines over the last minute', () => {
    const samples: UsageSample[] = [];
    for (let s = 0; s < 90; s++)
      samples.push({ second: 1000 + s, instances: [inst(4, 0, s < 80 ? 0.2 : 1.2, 400, s >= 50 ? 1 : 0)] });
    const summary = summarizeResources({ phase: 'Successful', capacity: host, samples }, 4);
    assert.equal(summary.second, 1089);
    assert.ok(Math.abs(summary.cpu! - 0.6) < 1e-9, `${summary.cpu}`);
    assert.ok(Math.abs(summary.cpuCores! - 1.2) < 1e-9);
    assert.ok(Math.abs(summary.memory! - 0.4) < 1e-9);
    assert.equal(summary.logErrorsPerMinute, 40);
    assert.equal(summary.series.length, 90);
    assert.deepEqual(summary.capacity, host);
  });

  test('a failed read says why and knows nothing', () => {
    const summary = summarizeResources({ phase: 'Error', error: 'agent down', samples: [] }, 4);
    assert.equal(summary.error, 'agent down');
    assert.equal(summary.cpu, null);
    assert.equal(summary.logErrorsPerMinute, null);
  });
});
