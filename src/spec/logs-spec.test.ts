import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errorLineMatcher, isDefaultErrorLine, logsSpecSchema } from './logs-spec.ts';

describe('the built-in error-line patterns', () => {
  const errors: [string, string][] = [
    ['pino error', '{"level":50,"time":1718000000000,"pid":1,"msg":"db down"}'],
    ['pino fatal', '{"level":60,"time":1718000000000,"msg":"out of memory"}'],
    ['winston', '{"level":"error","message":"payment failed"}'],
    ['zap', '{"level":"error","ts":1718000000.1,"caller":"main.go:12","msg":"x"}'],
    ['zap dpanic', '{"level":"dpanic","msg":"x"}'],
    ['logrus fatal', '{"level":"fatal","msg":"x","time":"2024-06-10T10:00:00Z"}'],
    ['slog', '{"time":"2024-06-10T10:00:00Z","level":"ERROR","msg":"x"}'],
    ['GCP severity', '{"severity":"ERROR","message":"x"}'],
    ['GCP critical', '{"severity":"CRITICAL","message":"x"}'],
    ['python-json-logger', '{"levelname": "ERROR", "message": "x"}'],
    ['ECS', '{"@timestamp":"2024-06-10T10:00:00Z","log.level":"error","message":"x"}'],
    ['ECS nested', '{"log":{"level":"error"},"message":"x"}'],
    ['Serilog compact', '{"@t":"2024-06-10T10:00:00Z","@l":"Error","@mt":"x"}'],
    ['indented JSON', '  {"level":"error","msg":"x"}'],
    ['plain ERROR', '2024-06-10 10:00:00 ERROR payment failed'],
    ['bracketed', '[ERROR] payment failed'],
    ['python logging', 'ERROR:root:payment failed'],
    ['FATAL', 'FATAL: could not open file'],
    ['CRITICAL', '2024-06-10 10:00:00,123 CRITICAL worker died'],
    ['java.util.logging', 'SEVERE: connection pool exhausted'],
    ['logfmt', 'time=2024-06-10T10:00:00Z level=error msg="payment failed"'],
    ['logfmt quoted', 'level="fatal" msg=x'],
    ['nginx', '2024/06/10 10:00:00 [error] 12#12: *1 connect() failed'],
    ['nginx crit', '2024/06/10 10:00:00 [crit] 12#12: x'],
    ['Go panic', 'panic: runtime error: index out of range [3] with length 3'],
    ['Go fatal error', 'fatal error: all goroutines are asleep - deadlock!'],
    ['JavaScript error', 'TypeError: Cannot read properties of undefined (reading "id")'],
    ['JavaScript Error', 'Error: connect ECONNREFUSED 127.0.0.1:5432'],
    ['uncaught', 'Uncaught ReferenceError: x is not defined'],
    ['Python exception line', "KeyError: 'user_id'"],
    ['Python dotted', 'requests.exceptions.ConnectionError: HTTPConnectionPool(host=x)'],
    ['Java printStackTrace', 'java.lang.IllegalStateException: closed'],
    ['Java uncaught', 'Exception in thread "main" java.lang.NullPointerException'],
    ['klog error', 'E0610 10:00:00.000000       1 reflector.go:138] failed to list'],
    ['klog fatal', 'F0610 10:00:00.000000       1 main.go:10] x'],
  ];
  for (const [name, line] of errors)
    test(`error: ${name}`, () => assert.equal(isDefaultErrorLine(line), true));

  const others: [string, string][] = [
    ['pino info', '{"level":30,"time":1718000000000,"msg":"listening"}'],
    ['pino warn', '{"level":40,"msg":"slow"}'],
    ['JSON info mentioning ERROR', '{"level":"info","msg":"rendered the ERROR page"}'],
    ['JSON warn with an error field', '{"level":"warn","msg":"retrying","error":"timeout"}'],
    ['GCP info', '{"severity":"INFO","message":"ok"}'],
    ['plain info', '2024-06-10 10:00:00 INFO server started'],
    ['warning', 'WARNING: deprecated option'],
    ['lower-case error in prose', 'retrying after error from upstream'],
    ['zero errors', 'processed 120 jobs, 0 errors'],
    ['a counter', 'error_count=0 errorRate=0.00'],
    ['a URL', 'GET /api/errors 200 3ms'],
    ['ERRORS plural', 'ERRORS: none'],
    ['logfmt info', 'level=info msg="retrying after error"'],
    ['a stack frame', '    at Object.<anonymous> (/srv/app/server.js:10:9)'],
    ['a Python frame', '  File "/srv/app/app.py", line 10, in handler'],
    ['Caused by', 'Caused by: java.io.IOException: broken pipe'],
    ['Traceback header', 'Traceback (most recent call last):'],
    ['the word Error mid-line', 'Error handling is enabled'],
    ['klog info', 'I0610 10:00:00.000000       1 main.go:10] started'],
    ['empty', ''],
    ['not JSON', '{ not json but no level'],
  ];
  for (const [name, line] of others)
    test(`not an error: ${name}`, () => assert.equal(isDefaultErrorLine(line), false));

  test('a Python traceback counts as one error line (its exception line)', () => {
    const traceback = [
      'Traceback (most recent call last):',
      '  File "/srv/app/app.py", line 10, in handler',
      '    return users[user_id]',
      "KeyError: 'user_id'",
    ];
    assert.equal(traceback.filter(isDefaultErrorLine).length, 1);
  });

  test('a JavaScript stack counts as one error line', () => {
    const stack = [
      'Error: boom',
      '    at handler (/srv/app/server.js:10:9)',
      '    at Server.<anonymous> (/srv/app/server.js:20:3)',
    ];
    assert.equal(stack.filter(isDefaultErrorLine).length, 1);
  });
});

describe('errorLineMatcher', () => {
  test('the app pattern replaces the built-in ones', () => {
    const match = errorLineMatcher('\\b(?:E\\d{3})\\b');
    assert.equal(match('E500 upstream failed'), true);
    assert.equal(match('ERROR upstream failed'), false);
  });
  test('inline modifiers work for a case-insensitive pattern', () => {
    assert.equal(errorLineMatcher('(?i:oops)')('OOPS'), true);
  });
  test('without a pattern: the built-in ones', () => {
    assert.equal(errorLineMatcher(undefined)('ERROR x'), true);
  });
});

describe('logs: in rewind.yaml', () => {
  test('an errorPattern that does not compile names the field, the value and the fix', () => {
    const r = logsSpecSchema.safeParse({ errorPattern: '(unclosed' });
    assert.equal(r.success, false);
    const message = r.error!.issues[0]!.message;
    assert.match(message, /errorPattern: "\(unclosed" is not a regular expression/);
    assert.match(message, /leave errorPattern out/);
  });
  test('defaults to the built-in patterns', () => {
    assert.deepEqual(logsSpecSchema.parse(undefined), {});
  });
});
