import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REDACTED, secretRedactor } from './redact.ts';

const SECRET = 'tok-5f2a9c1e77';

test('known values and credential shapes become [redacted]; the rest of the line stays', () => {
  const redact = secretRedactor([SECRET, 'p@ss word/1', 'q"uo\\te-9', 'abc']);
  const cases: [string, string][] = [
    [`calling payments with ${SECRET}`, `calling payments with ${REDACTED}`],
    [`twice: ${SECRET}${SECRET}`, `twice: ${REDACTED}${REDACTED}`],
    ['url-encoded: p%40ss%20word%2F1', `url-encoded: ${REDACTED}`],
    ['json-escaped: {"key":"q\\"uo\\\\te-9"}', `json-escaped: {"key":"${REDACTED}"}`],
    [
      'connecting to postgres://shop:hunter2@db:5432/shop',
      `connecting to postgres://shop:${REDACTED}@db:5432/shop`,
    ],
    ['Authorization: Bearer eyJhbGciOi.x.y', `Authorization: Bearer ${REDACTED}`],
    ['authorization=Basic dXNlcjpwYXNz', `authorization=Basic ${REDACTED}`],
    ['sent bearer abcdef123 upstream', `sent bearer ${REDACTED} upstream`],
    ['DB_PASSWORD=hunter2 PORT=3000', `DB_PASSWORD=${REDACTED} PORT=3000`],
    ['{"apiKey": "k-123", "user": "ann"}', `{"apiKey": "${REDACTED}", "user": "ann"}`],
    ['session_id=9f8e7d; path=/', `session_id=${REDACTED}; path=/`],
    ['client_secret: s3cr3t', `client_secret: ${REDACTED}`],
    // Too short to look for by value (it would hide ordinary words): only shapes catch it.
    ['abc is short', 'abc is short'],
    ['GET /products 500 in 12ms', 'GET /products 500 in 12ms'],
  ];
  for (const [line, expected] of cases) assert.equal(redact(line), expected, line);
});

test('a value that contains another known one is replaced whole; redacting twice changes nothing', () => {
  const redact = secretRedactor(['token-part', 'token-part-and-more']);
  assert.equal(redact('x token-part-and-more y'), `x ${REDACTED} y`);
  const once = redact('password=token-part Authorization: Bearer token-part');
  assert.equal(once, `password=${REDACTED} Authorization: Bearer ${REDACTED}`);
  assert.equal(redact(once), once);
});

test('without known values, shapes are still redacted', () => {
  assert.equal(secretRedactor([])('token=abc123'), `token=${REDACTED}`);
  assert.equal(secretRedactor([])('all quiet'), 'all quiet');
});
