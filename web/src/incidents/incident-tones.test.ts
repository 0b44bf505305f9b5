import assert from 'node:assert/strict';
import { test } from 'node:test';
import { severityTone, statusTone } from './incident-tones.ts';

test('severity and status tones', () => {
  const severities: [Parameters<typeof severityTone>[0], string][] = [
    ['P0', 'bad'],
    ['P1', 'bad'],
    ['P2', 'wait'],
    ['P3', 'quiet'],
  ];
  for (const [s, tone] of severities) assert.equal(severityTone(s), tone);
  const statuses: [Parameters<typeof statusTone>[0], string][] = [
    ['Open', 'wait'],
    ['Escalated', 'bad'],
    ['Resolved', 'ok'],
  ];
  for (const [s, tone] of statuses) assert.equal(statusTone(s), tone);
});
