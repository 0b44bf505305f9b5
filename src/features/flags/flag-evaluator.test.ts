import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createFlagEvaluator, type FlagResolution } from './flag-evaluator.ts';
import { parseFlagSet } from './flag-set.ts';

const bool = { on: true, off: false };
const set = parseFlagSet({
  metadata: { owner: 'team-shop', env: 'prod' },
  $evaluators: { 'pro-users': { '==': [{ var: 'plan' }, 'pro'] } },
  flags: {
    'max-items': {
      state: 'ENABLED',
      variants: { few: 10, many: 100 },
      defaultVariant: 'few',
      metadata: { env: 'staging' },
    },
    'pro-banner': {
      state: 'ENABLED',
      variants: bool,
      defaultVariant: 'off',
      targeting: { if: [{ $ref: 'pro-users' }, 'on'] },
    },
    split: {
      state: 'ENABLED',
      variants: bool,
      defaultVariant: 'off',
      targeting: {
        fractional: [
          ['on', 50],
          ['off', 50],
        ],
      },
    },
    'split-copy': {
      state: 'ENABLED',
      variants: bool,
      defaultVariant: 'off',
      targeting: {
        fractional: [
          ['on', 50],
          ['off', 50],
        ],
      },
    },
    colors: {
      state: 'ENABLED',
      variants: { red: 'red', green: 'green', blue: 'blue' },
      defaultVariant: 'red',
      targeting: {
        fractional: [
          ['red', 10],
          ['green', 20],
          ['blue', 70],
        ],
      },
    },
    'by-email': {
      state: 'ENABLED',
      variants: bool,
      defaultVariant: 'off',
      targeting: { fractional: [{ var: 'email' }, ['on', 50], ['off', 50]] },
    },
    'new-api': {
      state: 'ENABLED',
      variants: bool,
      defaultVariant: 'off',
      targeting: { if: [{ sem_ver: [{ var: 'version' }, '>=', '2.1.0'] }, 'on', 'off'] },
    },
    'same-major': {
      state: 'ENABLED',
      variants: bool,
      defaultVariant: 'off',
      targeting: { if: [{ sem_ver: [{ var: 'version' }, '^', '3.0.0'] }, 'on', 'off'] },
    },
    staff: {
      state: 'ENABLED',
      variants: bool,
      defaultVariant: 'off',
      targeting: {
        if: [
          { or: [{ ends_with: [{ var: 'email' }, '@shop.io'] }, { starts_with: [{ var: 'email' }, 'qa+'] }] },
          'on',
          'off',
        ],
      },
    },
    'own-key': {
      state: 'ENABLED',
      variants: bool,
      defaultVariant: 'off',
      targeting: { if: [{ '==': [{ var: '$flagd.flagKey' }, 'own-key'] }, 'on', 'off'] },
    },
    'after-launch': {
      state: 'ENABLED',
      variants: bool,
      defaultVariant: 'off',
      targeting: { if: [{ '>': [{ var: '$flagd.timestamp' }, 1_700_000_000] }, 'on', 'off'] },
    },
    theme: {
      state: 'ENABLED',
      variants: { dark: { bg: '#000' }, light: { bg: '#fff' } },
      defaultVariant: 'light',
    },
    'kill-switch': { state: 'DISABLED', variants: bool, defaultVariant: 'on', metadata: { reason: 'INC-7' } },
  },
});
const evaluator = createFlagEvaluator(set);

const variantOf = (r: FlagResolution) =>
  'variant' in r ? r.variant : `${r.reason}:${'errorCode' in r ? r.errorCode : ''}`;
const users = (n: number) => Array.from({ length: n }, (_, i) => `user-${i}`);

test('a flag without targeting is STATIC with the default variant and merged metadata (flag keys win)', () => {
  assert.deepEqual(evaluator.evaluate('max-items', {}), {
    key: 'max-items',
    reason: 'STATIC',
    value: 10,
    variant: 'few',
    metadata: { owner: 'team-shop', env: 'staging' },
  });
  assert.deepEqual(evaluator.evaluate('theme', {}, 'object'), {
    key: 'theme',
    reason: 'STATIC',
    value: { bg: '#fff' },
    variant: 'light',
    metadata: { owner: 'team-shop', env: 'prod' },
  });
});

test('targeting through a $ref matches, and a rule returning nothing serves the default variant as DEFAULT', () => {
  assert.deepEqual(
    [
      evaluator.evaluate('pro-banner', { plan: 'pro' }),
      evaluator.evaluate('pro-banner', { plan: 'free' }),
    ].map((r) => [r.reason, variantOf(r)]),
    [
      ['TARGETING_MATCH', 'on'],
      ['DEFAULT', 'off'],
    ],
  );
});

test('fractional: a targetingKey always gets the same variant, in this evaluator and a fresh one', () => {
  const again = createFlagEvaluator(parseFlagSet(JSON.stringify(set)));
  for (const user of users(200)) {
    const first = variantOf(evaluator.evaluate('colors', { targetingKey: user }));
    assert.equal(variantOf(evaluator.evaluate('colors', { targetingKey: user })), first);
    assert.equal(variantOf(again.evaluate('colors', { targetingKey: user, plan: 'other context' })), first);
  }
});

test('fractional: weights set the distribution (10/20/70 over 20,000 users, within 1.5 points)', () => {
  const counts: Record<string, number> = { red: 0, green: 0, blue: 0 };
  const n = 20_000;
  for (const user of users(n)) {
    const r = evaluator.evaluate('colors', { targetingKey: user });
    assert.equal(r.reason, 'TARGETING_MATCH');
    counts[variantOf(r)] = (counts[variantOf(r)] ?? 0) + 1;
  }
  for (const [variant, share] of [
    ['red', 10],
    ['green', 20],
    ['blue', 70],
  ] as const) {
    assert.ok(Math.abs(((counts[variant] ?? 0) / n) * 100 - share) < 1.5, `${variant}: ${counts[variant]}`);
  }
});

test('fractional: the flag key salts the hash, so two identical splits put users in different halves', () => {
  const differ = users(1000).filter(
    (user) =>
      variantOf(evaluator.evaluate('split', { targetingKey: user })) !==
      variantOf(evaluator.evaluate('split-copy', { targetingKey: user })),
  );
  assert.ok(differ.length > 350 && differ.length < 650, `${differ.length} of 1000 differ`);
});

test('fractional by targetingKey without one is TARGETING_KEY_MISSING; an explicit bucketing value needs none', () => {
  for (const context of [{}, { targetingKey: '' }, { email: 'a@b.c' }]) {
    const r = evaluator.evaluate('split', context);
    assert.equal(r.reason, 'ERROR');
    assert.equal('errorCode' in r && r.errorCode, 'TARGETING_KEY_MISSING');
  }
  const a = evaluator.evaluate('by-email', { email: 'ann@shop.io' });
  assert.equal(a.reason, 'TARGETING_MATCH');
  assert.equal(
    variantOf(evaluator.evaluate('by-email', { email: 'ann@shop.io', targetingKey: 'x' })),
    variantOf(a),
  );
  const noEmail = evaluator.evaluate('by-email', {});
  assert.deepEqual(
    [noEmail.reason, variantOf(noEmail)],
    ['DEFAULT', 'off'],
    'no bucketing value: default variant',
  );
});

test('sem_ver compares versions the way flagd does (v prefix, partial versions, ^)', () => {
  const cases: [string, unknown, string][] = [
    ['new-api', '2.1.0', 'on'],
    ['new-api', 'v2.10.1', 'on'],
    ['new-api', '2.0.9', 'off'],
    ['new-api', '3', 'on'],
    ['same-major', '3.9.9', 'on'],
    ['same-major', '4.0.0', 'off'],
  ];
  for (const [flag, version, expected] of cases) {
    assert.equal(variantOf(evaluator.evaluate(flag, { version })), expected, `${flag} ${version}`);
  }
  // An unparsable version makes sem_ver false, so the rule's else branch applies.
  const unparsable = evaluator.evaluate('new-api', { version: 'latest' });
  assert.deepEqual([unparsable.reason, variantOf(unparsable)], ['TARGETING_MATCH', 'off']);
});

test('starts_with and ends_with', () => {
  assert.equal(variantOf(evaluator.evaluate('staff', { email: 'ann@shop.io' })), 'on');
  assert.equal(variantOf(evaluator.evaluate('staff', { email: 'qa+1@gmail.com' })), 'on');
  assert.equal(variantOf(evaluator.evaluate('staff', { email: 'ann@gmail.com' })), 'off');
});

test('$flagd.flagKey and $flagd.timestamp are in the context of every rule', () => {
  assert.equal(variantOf(evaluator.evaluate('own-key', {})), 'on');
  assert.equal(variantOf(evaluator.evaluate('after-launch', {})), 'on');
  assert.equal(evaluator.timeDependent, true);
  assert.equal(createFlagEvaluator(parseFlagSet({ flags: {} })).timeDependent, false);
});

test('a disabled flag resolves to DISABLED with no value: the application keeps its code default', () => {
  assert.deepEqual(evaluator.evaluate('kill-switch', { targetingKey: 'u' }), {
    key: 'kill-switch',
    reason: 'DISABLED',
    codeDefault: true,
    metadata: { owner: 'team-shop', env: 'prod', reason: 'INC-7' },
  });
});

test('unknown flags and wrong expected types are errors, never throws', () => {
  assert.deepEqual(evaluator.evaluate('nope', {}), {
    key: 'nope',
    reason: 'ERROR',
    errorCode: 'FLAG_NOT_FOUND',
    errorDetails: 'flag "nope" does not exist',
    metadata: { owner: 'team-shop', env: 'prod' },
  });
  const r = evaluator.evaluate('max-items', {}, 'string');
  assert.equal('errorCode' in r && r.errorCode, 'TYPE_MISMATCH');
  assert.equal(evaluator.evaluate('max-items', {}, 'number').reason, 'STATIC');
});

test('evaluateAll returns every flag in the set order, disabled ones included', () => {
  const all = evaluator.evaluateAll({ targetingKey: 'user-1', plan: 'pro' });
  assert.deepEqual(
    all.map((r) => r.key),
    Object.keys(set.flags),
  );
  assert.equal(all.find((r) => r.key === 'kill-switch')?.reason, 'DISABLED');
  assert.equal(variantOf(all.find((r) => r.key === 'pro-banner')!), 'on');
});

test('a flag without defaultVariant: a match is its variant, a fall-through defers to the code default', () => {
  const noDefault = createFlagEvaluator(
    parseFlagSet({
      flags: {
        beta: {
          state: 'ENABLED',
          variants: bool,
          defaultVariant: null,
          targeting: { if: [{ '==': [{ var: 'plan' }, 'pro'] }, 'on'] },
        },
      },
    }),
  );
  assert.deepEqual(noDefault.evaluate('beta', { plan: 'free' }), {
    key: 'beta',
    reason: 'DEFAULT',
    codeDefault: true,
    metadata: {},
  });
  const pro = noDefault.evaluate('beta', { plan: 'pro' });
  assert.deepEqual([pro.reason, 'value' in pro && pro.value], ['TARGETING_MATCH', true]);
});

test('a rule flagd-core cannot compile evaluates to PARSE_ERROR; a variant the flag lacks to GENERAL', () => {
  const broken = createFlagEvaluator(
    parseFlagSet({
      flags: {
        typo: {
          state: 'ENABLED',
          variants: bool,
          defaultVariant: 'off',
          targeting: { startsWith: ['a', 'a'] },
        },
        ghost: {
          state: 'ENABLED',
          variants: bool,
          defaultVariant: 'off',
          targeting: { if: [true, 'maybe'] },
        },
      },
    }),
  );
  assert.equal((broken.evaluate('typo', {}) as { errorCode?: string }).errorCode, 'PARSE_ERROR');
  assert.equal((broken.evaluate('ghost', {}) as { errorCode?: string }).errorCode, 'GENERAL');
});

test('built from the evaluator in force, only the flags that changed are loaded again, with the same answers', () => {
  const first = createFlagEvaluator(set);
  assert.equal(first.reused, 0);
  const edited = parseFlagSet({
    ...set,
    flags: { ...set.flags, 'pro-banner': { ...set.flags['pro-banner']!, defaultVariant: 'on' } },
  });
  const next = createFlagEvaluator(edited, first);
  assert.equal(next.reused, Object.keys(set.flags).length - 1);
  const fresh = createFlagEvaluator(edited);
  for (const context of [{}, { plan: 'pro' }, { targetingKey: 'u-1' }, { targetingKey: 'u-2', plan: 'free' }])
    assert.deepEqual(next.evaluateAll(context), fresh.evaluateAll(context), JSON.stringify(context));
  assert.equal(next.evaluate('pro-banner', { plan: 'free' }).reason, 'DEFAULT');
  // Shared rules or set metadata changed: every flag is loaded again.
  const rules = parseFlagSet({
    ...edited,
    $evaluators: { 'pro-users': { '==': [{ var: 'plan' }, 'gold'] } },
  });
  const again = createFlagEvaluator(rules, next);
  assert.equal(again.reused, 0);
  assert.equal((again.evaluate('pro-banner', { plan: 'gold' }) as { value?: unknown }).value, true);
  assert.equal(createFlagEvaluator(parseFlagSet({ ...edited, metadata: { owner: 'x' } }), next).reused, 0);
});
