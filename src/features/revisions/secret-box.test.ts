import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createSecretBox, sealedKeyId } from './secret-box.ts';

const key = randomBytes(32).toString('base64');

test('a sealed secret opens with the same key and never contains the plaintext', () => {
  const box = createSecretBox(key);
  const sealed = box.encrypt('hunter2-password');
  assert.match(sealed, /^rwenc:v1:/);
  assert.ok(!sealed.includes('hunter2'));
  assert.notEqual(box.encrypt('hunter2-password'), sealed, 'a fresh IV each time');
  assert.equal(box.decrypt(sealed), 'hunter2-password');
  assert.equal(
    createSecretBox(Buffer.from(key, 'base64').toString('hex')).decrypt(sealed),
    'hunter2-password',
  );
});

test('a wrong key, a missing key, a short key and tampering are clear errors', () => {
  const sealed = createSecretBox(key).encrypt('x');
  assert.throws(
    () => createSecretBox(randomBytes(32).toString('base64')).decrypt(sealed),
    /sealed with another key/,
  );
  assert.throws(() => createSecretBox(undefined).decrypt(sealed), /set REWIND_SECRETS_KEY/);
  assert.throws(() => createSecretBox(undefined).encrypt('x'), /openssl rand -base64 32/);
  assert.equal(createSecretBox(undefined).ready, false);
  assert.throws(() => createSecretBox('short'), /REWIND_SECRETS_KEY must be 32 bytes.*got 5 characters/);
  const parts = sealed.split(':');
  // Tampered: every bit of the ciphertext flipped (a fixed replacement could equal it by chance).
  parts[5] = Buffer.from(Buffer.from(parts[5]!, 'base64url').map((b) => b ^ 0xff)).toString('base64url');
  assert.throws(() => createSecretBox(key).decrypt(parts.join(':')));
  assert.throws(() => createSecretBox(key).decrypt('plain'), /rwenc:v1 format/);
});

test('rotate seals with the new key and still opens what the old one sealed', () => {
  const box = createSecretBox(key);
  const before = box.encrypt('old');
  const oldId = box.keyId;
  const next = randomBytes(32).toString('base64');
  const newId = box.rotate(next);
  assert.notEqual(newId, oldId);
  assert.equal(box.keyId, newId);
  assert.deepEqual(box.keyIds, [oldId, newId]);
  const after = box.encrypt('new');
  assert.equal(sealedKeyId(after), newId);
  assert.equal(box.decrypt(before), 'old');
  assert.equal(createSecretBox(next).decrypt(after), 'new');
  assert.throws(
    () => box.rotate('nope'),
    (err: Error) => /32 bytes/.test(err.message) && !err.message.includes(next),
  );
});
