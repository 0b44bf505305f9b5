import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forceValue, rolloutSettings } from '../../spec/app-spec.ts';
import { ConfigError, parseConfig } from './load-config.ts';

const minimal = `
apps:
  - name: shop
    listen: 127.0.0.1:8080
    run:
      command: node server.js --version \${version}
`;

test('a minimal app gets its defaults', () => {
  const { apps } = parseConfig(minimal);
  const app = apps[0]!;
  assert.deepEqual(app.listen, { host: '127.0.0.1', port: 8080 });
  assert.equal(app.run.instances, 1);
  assert.equal(app.health.path, '/healthz');
  assert.equal(app.health.interval, 1000);
  assert.equal(rolloutSettings(app).bake, 10_000);
  assert.equal(app.routing.forceHeader, 'x-rewind-revision');
  assert.equal(app.initialVersion, 'v1');
});

test('durations, checks and env are read', () => {
  const { apps } = parseConfig(`
apps:
  - name: shop
    listen: "9090"
    run: { command: x, env: { A: 1, B_2: "two" }, stopTimeout: 2s }
    health: { interval: 250ms, startTimeout: 1m }
    strategy:
      blueGreen:
        bake: 5s
        prePromotionChecks:
          - http: { path: /ready }
          - command: "true"
`);
  const app = apps[0]!;
  assert.deepEqual(app.listen, { host: '127.0.0.1', port: 9090 });
  assert.deepEqual(app.run.env, { A: '1', B_2: 'two' });
  assert.equal(app.run.stopTimeout, 2000);
  assert.equal(app.health.interval, 250);
  assert.equal(app.health.startTimeout, 60_000);
  assert.equal(rolloutSettings(app).prePromotionChecks.length, 2);
});

function problemsOf(text: string) {
  try {
    parseConfig(text, 'rewind.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

test('bad input names the line, the path and the fix', () => {
  const table: [string, string, RegExp, number | null][] = [
    ['unknown key', minimal.replace('run:', 'colour: red\n    run:'), /unknown key "colour"/, 5],
    ['bad duration', `${minimal}      stopTimeout: 5 minutes\n`, /"5 minutes" is not a duration/, 7],
    ['bad listen', minimal.replace('127.0.0.1:8080', 'localhost:99999'), /is not HOST:PORT/, 4],
    ['bad name', minimal.replace('shop', 'Shop!'), /lower-case letters/, 3],
    ['bad env name', `${minimal}      env: { "1X": a }\n`, /environment variable name/, 7],
    ['missing run', 'apps:\n  - name: shop\n    listen: "8080"\n', /missing; add run/, 2],
    ['no apps', 'apps: []\n', /at least one app/, 1],
    ['yaml syntax', 'apps: [\n', /YAML syntax/, 2],
  ];
  for (const [name, text, message, line] of table) {
    const problems = problemsOf(text);
    assert.match(problems.map((p) => p.message).join('\n'), message, name);
    if (line !== null) assert.equal(problems[0]!.line, line, `${name}: line`);
  }
});

test('a YAML syntax error names the file, line and column, and shows the line', () => {
  const text = `${minimal}    health:\n      path: /healthz\n    interval 1s\n`;
  try {
    parseConfig(text, 'rewind.yaml');
    assert.fail('expected a ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    const first = err.problems[0]!;
    assert.deepEqual([first.line, first.column], [9, 5]);
    assert.match(err.message, /^ {2}rewind\.yaml:9:5: YAML syntax: Implicit map keys need to be followed/m);
    assert.match(err.message, /^ {5}9 \| {5}interval 1s\n {7}\| {5}\^$/m);
  }
  const problems = problemsOf(`${minimal}      env: { A: "unterminated }\n`);
  assert.deepEqual([problems[0]!.line, problems[0]!.source], [8, '(end of file)']);
  assert.match(problems[0]!.message, /YAML syntax: Missing closing "quote/);
});

test('a schema problem is placed at its line and column too', () => {
  const problems = problemsOf(minimal.replace('run:', 'colour: red\n    run:'));
  assert.deepEqual([problems[0]!.line, problems[0]!.column, problems[0]!.source], [5, 5, '    colour: red']);
});

test('two apps may not share a name or a listener', () => {
  const problems = problemsOf(`
apps:
  - { name: a, listen: "8080", run: { command: x } }
  - { name: a, listen: "8080", run: { command: x } }
`);
  assert.equal(problems.length, 2);
  assert.match(problems[0]!.message, /declared twice/);
  assert.match(problems[1]!.message, /already the listener/);
});

test('a canary strategy: steps, pauses, analysis gates; bad steps are refused', () => {
  const canary = (steps: string) =>
    `${minimal}    strategy:\n      canary:\n        steps:\n${steps
      .split('\n')
      .map((l) => `          ${l}`)
      .join('\n')}\n`;
  const app = parseConfig(
    canary('- setWeight: 10\n- pause: 30s\n- analysis: { duration: 1m }\n- pause: {}\n- setWeight: 100'),
  ).apps[0]!;
  const settings = rolloutSettings(app);
  assert.equal(settings.strategy, 'canary');
  assert.deepEqual(settings.steps, [
    { setWeight: 10 },
    { pause: 30_000 },
    { analysis: 60_000 },
    { pause: null },
    { setWeight: 100 },
  ]);
  const table: [string, RegExp][] = [
    [canary('- setWeight: 10\n- pause: {}'), /never reach 100%; add "- setWeight: 100"/],
    [canary('- setWeight: 50\n- setWeight: 20\n- setWeight: 100'), /setWeight 20 is below the previous 50/],
    [canary('- setWeight: 150'), /a weight is 0..100/],
    [canary('- wait: 5s\n- setWeight: 100'), /is not a step; a step is one of/],
    [
      `${minimal}    strategy:\n      blueGreen: {}\n      canary: { steps: [{ setWeight: 100 }] }\n`,
      /choose one strategy/,
    ],
  ];
  for (const [text, message] of table)
    assert.match(
      problemsOf(text)
        .map((p) => p.message)
        .join('\n'),
      message,
    );
});

test('analysis rules, hooks and notifications are checked with the rest', () => {
  const table: [string, RegExp][] = [
    [
      `${minimal}    analysis:\n      rules:\n        - { metric: errorz, above: 0.05, severity: P0 }\n`,
      /errorz/,
    ],
    [
      `${minimal}    analysis:\n      rules:\n        - { metric: errorRate, above: 5, severity: P0 }\n`,
      /5%/,
    ],
    [
      `${minimal}    hooks:\n      prePromotion:\n        - webhook: { url: "ftp://x" }\n`,
      /webhook.url: is not an http\(s\) URL/,
    ],
    [
      `${minimal}    hooks:\n      postRollback:\n        - { run: "x" }\n`,
      /is not a hook; a hook is {command/,
    ],
    [
      `${minimal}notifications:\n  - { type: webhook, url: "not a url" }\n`,
      /"not a url" is not an http\(s\) URL/,
    ],
  ];
  for (const [text, message] of table)
    assert.match(
      problemsOf(text)
        .map((p) => `${p.path}: ${p.message}`)
        .join('\n'),
      message,
    );
});

test('proxy limits and force-header trust: defaults, overrides, and clear errors', () => {
  const app = parseConfig(minimal).apps[0]!;
  assert.deepEqual(app.proxy.limits, { requestLine: 8192, headerLine: 8192, head: 65536 });
  assert.deepEqual(app.routing.trustedSources, ['127.0.0.0/8', '::1/128']);
  assert.equal(forceValue(app, 3), '3');
  const custom = parseConfig(
    `${minimal}    proxy: { limits: { requestLine: 4096, head: 32768 } }\n` +
      `    routing: { trustedSources: [10.0.0.0/8, "fd00::/8", 192.168.1.7], forceSecretEnv: REWIND_TEST_FORCE_SECRET }\n`,
  ).apps[0]!;
  assert.deepEqual(custom.proxy.limits, { requestLine: 4096, headerLine: 8192, head: 32768 });
  assert.deepEqual(custom.routing.trustedSources, ['10.0.0.0/8', 'fd00::/8', '192.168.1.7']);
  assert.throws(() => forceValue(custom, 3), /REWIND_TEST_FORCE_SECRET, which is not set; export/);
  process.env.REWIND_TEST_FORCE_SECRET = 's3cret';
  try {
    assert.equal(forceValue(custom, 3), '3:s3cret');
  } finally {
    delete process.env.REWIND_TEST_FORCE_SECRET;
  }
  const bad: [string, RegExp][] = [
    ['    routing: { trustedSources: [10.0.0.0/33] }', /"10.0.0.0\/33": the prefix length after \/ is 0..32/],
    [
      '    routing: { trustedSources: [localhost] }',
      /"localhost" is not an IP address or CIDR; write for example/,
    ],
    ['    proxy: { limits: { headerLine: 10 } }', /at least 256 bytes/],
    ['    proxy: { limits: { head: 4096, headerLine: 8192 } }', /head \(4096\) must be at least/],
    ['    proxy: { timeout: 5 }', /unknown key "timeout"/],
  ];
  for (const [line, message] of bad) {
    assert.match(
      problemsOf(`${minimal}${line}\n`)
        .map((p) => p.message)
        .join('\n'),
      message,
      line,
    );
  }
});

test('server.flagSync: off by default; auth token by default; auth none only on loopback', () => {
  assert.equal(parseConfig(minimal).server.flagSync, undefined);
  const on = parseConfig(`${minimal}server:\n  flagSync: { listen: "8015" }\n`).server.flagSync;
  assert.deepEqual(on, { listen: { host: '127.0.0.1', port: 8015 }, auth: 'token' });
  const open = parseConfig(`${minimal}server:\n  flagSync: { listen: "127.0.0.1:8015", auth: none }\n`);
  assert.equal(open.server.flagSync?.auth, 'none');
  const exposed = problemsOf(`${minimal}server:\n  flagSync: { listen: "0.0.0.0:8015", auth: none }\n`);
  assert.match(
    exposed[0]!.message,
    /auth: none lets anyone who reaches 0\.0\.0\.0:8015 read every app's flags/,
  );
  assert.match(exposed[0]!.path ?? '', /server\.flagSync\.auth/);
  const typo = problemsOf(`${minimal}server:\n  flagSync: { listen: "8015", auth: basic }\n`);
  assert.match(typo[0]!.message, /auth: "basic" is not token or none/);
});

test('maintenance: manual by default, auto in short, or the object form; anything else is named', () => {
  assert.deepEqual(parseConfig(minimal).apps[0]!.maintenance, { mode: 'manual', retryAfter: 60_000 });
  assert.deepEqual(parseConfig(`${minimal}    maintenance: auto\n`).apps[0]!.maintenance, {
    mode: 'auto',
    retryAfter: 60_000,
  });
  assert.deepEqual(
    parseConfig(`${minimal}    maintenance: { mode: auto, page: down.html, retryAfter: 2m }\n`).apps[0]!
      .maintenance,
    { mode: 'auto', page: 'down.html', retryAfter: 120_000 },
  );
  const table: [string, RegExp][] = [
    ['    maintenance: on\n', /maintenance.mode: "on" is not auto or manual; write maintenance: auto/],
    ['    maintenance: { retryAfter: 0s }\n', /maintenance.retryAfter: Retry-After is at least 1s/],
    ['    maintenance: { retryAfter: 2d }\n', /"2d" is not a duration/],
    ['    maintenance: { mode: auto, pages: x.html }\n', /unknown key "pages"/],
  ];
  for (const [rest, message] of table)
    assert.match(
      problemsOf(`${minimal}${rest}`)
        .map((p) => `${p.path}: ${p.message}`)
        .join('\n'),
      message,
    );
});
