import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchRoute, paths, type Route } from './routes.ts';

test('paths and pages match both ways', () => {
  const cases: [string, Route][] = [
    [paths.apps(), { page: 'apps' }],
    [paths.app('shop'), { page: 'app', app: 'shop' }],
    [paths.rollout('shop', 'd285-7f5c'), { page: 'rollout', app: 'shop', id: 'd285-7f5c' }],
    [paths.history('shop'), { page: 'history', app: 'shop' }],
    [paths.flags('my app'), { page: 'flags', app: 'my app' }],
    [paths.database('shop'), { page: 'database', app: 'shop' }],
    [paths.incidents(), { page: 'incidents' }],
    [paths.incident('inc-20261203T021442-d5de'), { page: 'incident', id: 'inc-20261203T021442-d5de' }],
  ];
  for (const [path, route] of cases) assert.deepEqual(matchRoute(path), route, path);
  assert.equal(paths.flags('my app'), '/apps/my%20app/flags');
});

test('unknown paths are not found', () => {
  for (const path of [
    '/apps',
    '/apps/shop/nope',
    '/apps/shop/rollouts',
    '/x',
    '/incidents/a/b',
    '/apps/%E0%A4%A',
  ])
    assert.equal(matchRoute(path).page, 'not-found', path);
  assert.deepEqual(matchRoute('/apps/shop/'), { page: 'app', app: 'shop' });
});
