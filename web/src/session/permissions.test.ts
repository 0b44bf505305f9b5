import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mayCall } from './permissions.ts';

test('who may call which route', () => {
  const cases: [string, string | null, string, string | undefined, boolean][] = [
    ['viewer', null, 'GET /api/v1/apps/{app}', 'shop', true],
    ['viewer', null, 'POST /api/v1/apps/{app}/rollback', 'shop', false],
    ['deployer', null, 'POST /api/v1/apps/{app}/rollback', 'shop', true],
    ['deployer', null, 'POST /api/v1/apps/{app}/flags/{key}/disable', 'shop', true],
    ['deployer', null, 'POST /api/v1/apps/{app}/db/contract', 'shop', false],
    ['admin', null, 'POST /api/v1/apps/{app}/db/contract', 'shop', true],
    ['admin', 'shop', 'POST /api/v1/apps/{app}/rollback', 'shop', true],
    ['admin', 'shop', 'POST /api/v1/apps/{app}/rollback', 'cart', false],
    ['admin', 'shop', 'GET /api/v1/tokens', undefined, false],
    ['admin', null, 'POST /api/v1/no/such/route', undefined, false],
  ];
  for (const [role, app, route, target, allowed] of cases)
    assert.equal(
      mayCall({ role: role as 'admin', app }, route, target),
      allowed,
      `${role}${app ? `@${app}` : ''} ${route} ${target ?? ''}`,
    );
});
