import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RewindError } from '../../shared/errors.ts';
import { diffFlagSets, FlagSetError, parseFlagSet, setFlagState, warningsOf, withFlag } from './flag-set.ts';

const boolFlag = { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' };
const withTargeting = (targeting: unknown) => ({ flags: { checkout: { ...boolFlag, targeting } } });
const withDef = (def: Record<string, unknown>) => ({ flags: { checkout: { ...boolFlag, ...def } } });
const without = (field: string) => ({
  flags: { checkout: Object.fromEntries(Object.entries(boolFlag).filter(([k]) => k !== field)) },
});

const example = {
  $schema: 'https://flagd.dev/schema/v0/flags.json',
  metadata: { owner: 'team-checkout' },
  $evaluators: { 'pro-users': { '==': [{ var: 'plan' }, 'pro'] } },
  flags: {
    'new-checkout': {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant: 'off',
      targeting: {
        if: [
          { $ref: 'pro-users' },
          'on',
          {
            fractional: [
              ['on', 10],
              ['off', 90],
            ],
          },
        ],
      },
      metadata: { ticket: 'SHOP-12' },
    },
    'banner-color': { state: 'DISABLED', variants: { red: '#f00', blue: '#00f' }, defaultVariant: 'red' },
    theme: {
      state: 'ENABLED',
      variants: { dark: { bg: '#000', fg: ['#fff'] }, light: { bg: '#fff' } },
      defaultVariant: 'light',
      targeting: {},
    },
  },
};

test('a valid flag set parses to an equal, deeply frozen copy, from a value or from JSON text', () => {
  const set = parseFlagSet(example);
  assert.deepEqual(set, example);
  assert.notEqual(set, example);
  assert.ok(Object.isFrozen(set.flags['new-checkout']?.variants));
  assert.deepEqual(parseFlagSet(JSON.stringify(example)), set);
});

// Every bad input names the exact field; the message holds the path, the problem and the fix.
const rejections: [string, unknown, string, RegExp][] = [
  ['invalid JSON', '{"flags": {', '(document)', /not valid JSON/],
  ['not an object', [boolFlag], '(document)', /a flag set is a JSON object/],
  ['no flags', { metadata: {} }, 'flags', /needs a "flags" object/],
  ['unknown top-level field', { flags: {}, version: 2 }, 'version', /unknown field "version"/],
  ['$schema not a string', { $schema: 1, flags: {} }, '$schema', /URL string/],
  [
    'set metadata not primitive',
    { metadata: { tags: ['a'] }, flags: {} },
    'metadata.tags',
    /strings, numbers or booleans/,
  ],
  ['flag key with a slash', { flags: { 'a/b': boolFlag } }, 'flags.a/b', /invalid flag key/],
  [
    'flag key with a space',
    { flags: { 'new checkout': boolFlag } },
    'flags.new checkout',
    /invalid flag key/,
  ],
  ['flag key starting with _', { flags: { _x: boolFlag } }, 'flags._x', /invalid flag key/],
  ['flag not an object', { flags: { checkout: true } }, 'flags.checkout', /is not an object/],
  ['missing state', without('state'), 'flags.checkout.state', /state is ENABLED or DISABLED/],
  ['missing variants', without('variants'), 'flags.checkout.variants', /variants maps names to values/],
  [
    'unknown flag field',
    withDef({ description: 'x' }),
    'flags.checkout.description',
    /unknown field "description"/,
  ],
  ['state not ENABLED/DISABLED', withDef({ state: 'ON' }), 'flags.checkout.state', /ENABLED or DISABLED/],
  [
    'empty variants',
    withDef({ variants: {}, defaultVariant: null }),
    'flags.checkout.variants',
    /at least one/,
  ],
  [
    'variants a list',
    withDef({ variants: [true, false] }),
    'flags.checkout.variants',
    /maps names to values/,
  ],
  [
    'boolean and string variants',
    withDef({ variants: { on: true, off: 'no' } }),
    'flags.checkout.variants.off',
    /is a string but variant "on" is a boolean/,
  ],
  [
    'number and string variants',
    withDef({ variants: { a: 1, b: '2' }, defaultVariant: 'a' }),
    'flags.checkout.variants.b',
    /is a string but variant "a" is a number/,
  ],
  [
    'object and string variants',
    withDef({ variants: { a: { x: 1 }, b: 'x' }, defaultVariant: 'a' }),
    'flags.checkout.variants.b',
    /is a string but variant "a" is an object/,
  ],
  [
    'array variant',
    withDef({ variants: { a: [1], b: [2] }, defaultVariant: 'a' }),
    'flags.checkout.variants.a',
    /not array/,
  ],
  ['null variant', withDef({ variants: { on: true, off: null } }), 'flags.checkout.variants.off', /not null/],
  [
    'defaultVariant not a variant',
    withDef({ defaultVariant: 'blue' }),
    'flags.checkout.defaultVariant',
    /not one of the variants of "checkout"/,
  ],
  [
    'flag metadata not primitive',
    withDef({ metadata: { tags: { a: 1 } } }),
    'flags.checkout.metadata.tags',
    /strings, numbers or booleans/,
  ],
  ['targeting a string', withTargeting('on'), 'flags.checkout.targeting', /JsonLogic rule object/],
  [
    'unknown operator',
    withTargeting({ if: [{ contains: [{ var: 'e' }, 'x'] }, 'on', 'off'] }),
    'flags.checkout.targeting.if[0]',
    /unknown operator "contains"/,
  ],
  [
    'operator typo',
    withTargeting({ if: [{ semver: [{ var: 'v' }, '>=', '1.0.0'] }, 'on'] }),
    'flags.checkout.targeting.if[0]',
    /Fix: write "sem_ver"/,
  ],
  [
    'two operators in one rule',
    withTargeting({ '==': [1, 1], in: ['a', 'abc'] }),
    'flags.checkout.targeting',
    /exactly one operator/,
  ],
  [
    '$ref to a missing evaluator',
    withTargeting({ if: [{ $ref: 'beta' }, 'on'] }),
    'flags.checkout.targeting.if[0].$ref',
    /evaluator that \$evaluators does not define/,
  ],
  [
    'unknown operator in an evaluator',
    { $evaluators: { beta: { like: ['a', 'b'] } }, flags: {} },
    '$evaluators.beta',
    /unknown operator "like"/,
  ],
  [
    'sem_ver with two arguments',
    withTargeting({ sem_ver: [{ var: 'v' }, '1.0.0'] }),
    'flags.checkout.targeting.sem_ver',
    /takes 3 arguments/,
  ],
  [
    'sem_ver unknown comparison',
    withTargeting({ if: [{ sem_ver: [{ var: 'v' }, '=>', '1.0.0'] }, 'on'] }),
    'flags.checkout.targeting.if[0].sem_ver[1]',
    /not a sem_ver comparison/,
  ],
  [
    'starts_with with one argument',
    withTargeting({ if: [{ starts_with: [{ var: 'e' }] }, 'on'] }),
    'flags.checkout.targeting.if[0].starts_with',
    /takes 2 arguments/,
  ],
  [
    'fractional with no buckets',
    withTargeting({ fractional: [] }),
    'flags.checkout.targeting.fractional',
    /list of buckets/,
  ],
  [
    'fractional weight not whole',
    withTargeting({
      fractional: [
        ['on', 0.5],
        ['off', 99.5],
      ],
    }),
    'flags.checkout.targeting.fractional[0][1]',
    /whole number/,
  ],
  [
    'fractional bucket names no variant',
    withTargeting({
      fractional: [
        ['on', 50],
        ['of', 50],
      ],
    }),
    'flags.checkout.targeting.fractional[1][0]',
    /variant that the flag does not have/,
  ],
  [
    'if returns no variant',
    withTargeting({ if: [{ '==': [{ var: 'plan' }, 'pro'] }, 'yes', 'off'] }),
    'flags.checkout.targeting.if[1]',
    /add a variant named "yes"/,
  ],
];

/** What flagd itself refuses (and a key unsafe in a URL); the rest flagd loads, and so does Rewind. */
const REFUSED = new Set([
  'invalid JSON',
  'not an object',
  'no flags',
  'flag key with a slash',
  'flag key with a space',
  'flag key starting with _',
  'flag not an object',
  'missing state',
  'missing variants',
  'state not ENABLED/DISABLED',
  'variants a list',
  'defaultVariant not a variant',
]);

for (const [name, input, path, message] of rejections.filter(([name]) => !REFUSED.has(name))) {
  test(`loads with a warning: ${name} at ${path}`, () => {
    const warnings = warningsOf(parseFlagSet(input));
    const w = warnings.find((x) => x.path === path);
    assert.ok(w, `no warning at ${path}: ${JSON.stringify(warnings)}`);
    assert.match(w.message, message);
    const flag = path.startsWith('flags.checkout') ? 'checkout' : undefined;
    assert.equal(w.flag, flag);
    assert.ok(
      w.message.startsWith(
        flag ? `flag \`checkout\` ${path.slice('flags.checkout.'.length)}: ` : `${path}: `,
      ),
      w.message,
    );
    assert.match(w.message, /\(found .*\)\. Fix: ./);
  });
}

test('every refusal of a set is reported at once, each with its path', () => {
  assert.throws(
    () =>
      parseFlagSet({
        flags: { a: { ...boolFlag, state: 'ON' }, b: { ...boolFlag, defaultVariant: 'maybe' }, c: boolFlag },
      }),
    (err: unknown) => {
      assert.ok(err instanceof FlagSetError);
      assert.match(err.message, /^2 problems:\n- flags\.a\.state: .*\n- flags\.b\.defaultVariant: /);
      return true;
    },
  );
});

test('a flag without defaultVariant (or null) loads with no warning: the code default is served', () => {
  for (const input of [without('defaultVariant'), withDef({ defaultVariant: null })]) {
    assert.deepEqual(warningsOf(parseFlagSet(input)), []);
  }
});

test('a sem_ver rule literal that is not MAJOR.MINOR.PATCH is a warning naming the literal and the fix', () => {
  const set = parseFlagSet(withTargeting({ if: [{ sem_ver: [{ var: 'v' }, '>=', 'v1.1'] }, 'on', 'off'] }));
  const [w] = warningsOf(set);
  assert.equal(w?.path, 'flags.checkout.targeting.if[0].sem_ver[2]');
  assert.match(
    w?.message ?? '',
    /^flag `checkout` targeting\.if\[0\]\.sem_ver\[2\]: "v1\.1" is not a semantic version .*Fix: write "1\.1\.0"$/,
  );
});

test("flagd's schema errors are distilled to the deepest one: a negative weight, not 149 branch errors", () => {
  const set = parseFlagSet(
    withTargeting({
      fractional: [
        ['on', -5],
        ['off', 10],
      ],
    }),
  );
  const warnings = warningsOf(set);
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  assert.match(warnings[0]?.message ?? '', /fractional\[0\]\[1\]: a bucket weight is >= 0/);
});

test("what only flagd's schema objects to is one warning at the deepest path, not its 100+ branch errors", () => {
  const set = parseFlagSet(withTargeting({ if: [{ ends_with: [{ var: 'email' }, 3] }, 'on', 'off'] }));
  assert.deepEqual(warningsOf(set), [
    {
      flag: 'checkout',
      path: 'flags.checkout.targeting.if[0].ends_with[1]',
      message:
        "flag `checkout` targeting.if[0].ends_with[1]: flagd's schema wants string or object here; flagd loads it anyway (found 3). Fix: write string or object",
    },
  ]);
});

test("flagd's schema is asked flag by flag: its validator stops at the first flag that fails", () => {
  const flag = { ...boolFlag, targeting: { if: [{ ends_with: [{ var: 'email' }, 3] }, 'on', 'off'] } };
  const set = parseFlagSet({ flags: { a: flag, b: boolFlag, c: flag } });
  assert.deepEqual(
    warningsOf(set).map((w) => w.path),
    ['flags.a.targeting.if[0].ends_with[1]', 'flags.c.targeting.if[0].ends_with[1]'],
  );
});

for (const [name, input, path, message] of rejections.filter(([name]) => REFUSED.has(name))) {
  test(`refuses: ${name} at ${path}`, () => {
    assert.throws(
      () => parseFlagSet(input),
      (err: unknown) => {
        assert.ok(err instanceof FlagSetError, String(err));
        assert.equal(err.path, path);
        assert.match(err.message, message);
        assert.ok(err.message.startsWith(`${path}: `), err.message);
        assert.match(err.message, /\(found .*\)\. Fix: ./);
        assert.ok(err.fix.length > 0);
        return true;
      },
    );
  });
}

test('a FlagSetError is a 400 VALIDATION_FAILED in the shared catalogue, carrying the value', () => {
  const err = (() => {
    try {
      parseFlagSet(withDef({ defaultVariant: 'blue' }));
    } catch (e) {
      return e;
    }
  })();
  assert.ok(err instanceof RewindError);
  assert.equal(err.status, 400);
  assert.ok(err instanceof FlagSetError);
  assert.equal(err.value, 'blue');
  assert.equal(
    err.fix,
    'use one of on, off or add a variant named "blue", or null to serve the code default',
  );
});

test('rule literals that name variants pass, including booleans named "true"/"false"', () => {
  parseFlagSet({
    flags: {
      b: {
        state: 'ENABLED',
        variants: { true: true, false: false },
        defaultVariant: 'false',
        targeting: { if: [{ var: 'x' }, true, false] },
      },
      s: {
        state: 'ENABLED',
        variants: { a: 'A', b: 'B' },
        defaultVariant: 'a',
        targeting: { fractional: [{ var: 'email' }, ['a', 1], ['b', 1]] },
      },
    },
  });
});

test('diff: added, removed and changed flags with the fields that differ', () => {
  const a = parseFlagSet(example);
  const b = parseFlagSet({
    ...example,
    flags: {
      'new-checkout': example.flags['new-checkout'],
      'banner-color': { ...example.flags['banner-color'], state: 'ENABLED', defaultVariant: 'blue' },
      search: boolFlag,
    },
  });
  assert.deepEqual(diffFlagSets(a, a), []);
  assert.deepEqual(
    diffFlagSets(a, b).map(({ flag, change, fields }) => ({ flag, change, fields })),
    [
      { flag: 'banner-color', change: 'changed', fields: ['state', 'defaultVariant'] },
      { flag: 'search', change: 'added', fields: ['state', 'variants', 'defaultVariant'] },
      { flag: 'theme', change: 'removed', fields: ['state', 'variants', 'defaultVariant', 'targeting'] },
    ],
  );
  const [banner] = diffFlagSets(a, b);
  assert.equal(banner?.before?.state, 'DISABLED');
  assert.equal(banner?.after?.state, 'ENABLED');
  assert.deepEqual(
    JSON.parse(JSON.stringify(diffFlagSets(a, b))),
    diffFlagSets(a, b),
    'the diff is plain JSON',
  );
});

test('diff: editing a shared evaluator changes the targeting of the flags that use it; key order does not', () => {
  const a = parseFlagSet(example);
  const b = parseFlagSet({
    ...example,
    $evaluators: { 'pro-users': { in: [{ var: 'plan' }, ['pro', 'team']] } },
  });
  assert.deepEqual(
    diffFlagSets(a, b).map(({ flag, fields }) => [flag, fields]),
    [['new-checkout', ['targeting']]],
  );
  const reordered = parseFlagSet({
    flags: {
      ...example.flags,
      theme: {
        defaultVariant: 'light',
        targeting: {},
        variants: example.flags.theme.variants,
        state: 'ENABLED',
      },
    },
    $evaluators: example.$evaluators,
    metadata: example.metadata,
  });
  assert.deepEqual(diffFlagSets(a, reordered), []);
});

test('setFlagState returns a new set with the flag switched; the original is untouched', () => {
  const a = parseFlagSet(example);
  const b = setFlagState(a, 'new-checkout', 'DISABLED');
  assert.equal(b.flags['new-checkout']?.state, 'DISABLED');
  assert.equal(a.flags['new-checkout']?.state, 'ENABLED');
  assert.deepEqual(Object.keys(b.flags), Object.keys(a.flags));
  assert.deepEqual(
    diffFlagSets(a, b).map((c) => c.fields),
    [['state']],
  );
  assert.throws(() => setFlagState(a, 'nope', 'DISABLED'), {
    path: 'flags.nope',
    message: /there is no flag "nope"/,
  });
});

test('withFlag adds or replaces a flag and validates it, leaving the original untouched', () => {
  const a = parseFlagSet(example);
  const b = withFlag(a, 'search', boolFlag);
  assert.deepEqual(Object.keys(b.flags), ['new-checkout', 'banner-color', 'theme', 'search']);
  const c = withFlag(b, 'theme', { ...boolFlag, defaultVariant: 'on' });
  assert.deepEqual(Object.keys(c.flags), ['new-checkout', 'banner-color', 'theme', 'search']);
  assert.equal(c.flags.theme?.defaultVariant, 'on');
  assert.throws(() => withFlag(a, 'search', { ...boolFlag, defaultVariant: 'maybe' }), {
    path: 'flags.search.defaultVariant',
  });
  assert.equal(a.flags.search, undefined);
});
