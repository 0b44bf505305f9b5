import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ago, clock, dateTime, duration, latency, percent, phaseText, phaseTone, rate } from './format.ts';

test('percent', () => {
  const cases: [number | null, string][] = [
    [null, '–'],
    [0, '0%'],
    [0.0004, '<0.1%'],
    [0.0123, '1.2%'],
    [0.05, '5%'],
    [0.3, '30%'],
    [0.333, '33%'],
    [1, '100%'],
  ];
  for (const [share, text] of cases) assert.equal(percent(share), text, String(share));
});

test('latency', () => {
  const cases: [number | null, string][] = [
    [null, '–'],
    [0.844, '0.84 ms'],
    [12.3, '12 ms'],
    [999.4, '999 ms'],
    [1500, '1.5 s'],
    [12_345, '12 s'],
  ];
  for (const [ms, text] of cases) assert.equal(latency(ms), text, String(ms));
});

test('rate', () => {
  const cases: [number, string][] = [
    [0, '0/s'],
    [3.25, '3.3/s'],
    [42, '42/s'],
    [123.4, '123/s'],
    [1234, '1.2k/s'],
  ];
  for (const [r, text] of cases) assert.equal(rate(r), text, String(r));
});

test('duration', () => {
  const cases: [number, string][] = [
    [200, '200ms'],
    [2000, '2s'],
    [60_000, '1m'],
    [90_000, '1m 30s'],
    [3_600_000, '1h'],
    [5_400_000, '1h 30m'],
    [7 * 86_400_000, '7d'],
  ];
  for (const [ms, text] of cases) assert.equal(duration(ms), text, String(ms));
});

test('ago', () => {
  const now = 1_000_000_000;
  const cases: [number, string][] = [
    [500, 'just now'],
    [12_000, '12s ago'],
    [300_000, '5m ago'],
    [3 * 3_600_000, '3h ago'],
    [3 * 86_400_000, '3d ago'],
  ];
  for (const [before, text] of cases) assert.equal(ago(now - before, now), text, text);
});

test('clock and dateTime in a given zone', () => {
  const at = Date.UTC(2026, 11, 3, 14, 5, 9);
  assert.equal(clock(at, 'UTC'), '14:05:09');
  assert.equal(dateTime(at, 'UTC'), '2026-12-03 14:05:09');
  assert.equal(clock(at, 'Europe/Paris'), '15:05:09');
});

test('phases in words and tones', () => {
  const cases: [string, string, string][] = [
    ['RolledBack', 'rolled back', 'bad'],
    ['RollingBack', 'rolling back', 'bad'],
    ['Failed', 'failed', 'bad'],
    ['Paused', 'paused', 'wait'],
    ['Progressing', 'progressing', 'busy'],
    ['Completed', 'completed', 'ok'],
  ];
  for (const [phase, text, tone] of cases) {
    assert.equal(phaseText(phase), text);
    assert.equal(phaseTone(phase), tone);
  }
});
