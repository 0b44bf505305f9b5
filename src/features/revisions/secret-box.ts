// Secrets are stored encrypted (AES-256-GCM) with a key that lives only in the server's
// environment, REWIND_SECRETS_KEY. The store, the API and the journal only ever see ciphertext or
// the secret's name; plaintext exists in memory while an instance's environment is built.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { RewindError } from '../../shared/errors.ts';

export const SECRETS_KEY_ENV = 'REWIND_SECRETS_KEY';
const PREFIX = 'rwenc:v1';
const MAKE_KEY = 'make one with: openssl rand -base64 32';

export interface SecretBox {
  /** Whether a key is configured; without one, secrets can be neither set nor read. */
  readonly ready: boolean;
  /** The first 8 hex digits of the sha256 of the key that seals ('' without a key); stored with each sealed value. */
  readonly keyId: string;
  /** Every key id this box can open: the sealing key's, and the ones it replaced (rotate). */
  readonly keyIds: readonly string[];
  /** Throws the clear "set REWIND_SECRETS_KEY" error when no key is configured. */
  requireKey(): void;
  encrypt(plaintext: string): string;
  /** Throws a RewindError when the key is missing or is not the one the value was sealed with. */
  decrypt(sealed: string): string;
  /**
   * Seals with `keyText` from now on, and still opens what the earlier keys sealed (for the
   * re-sealing of `rewind secrets rotate-key`). Returns the new key id; throws on a malformed key
   * (the message never holds the key).
   */
  rotate(keyText: string): string;
}

/** The key id a sealed value was sealed with, or undefined when it is not a sealed value. */
export function sealedKeyId(sealed: string): string | undefined {
  const parts = sealed.split(':');
  return parts.length === 6 && `${parts[0]}:${parts[1]}` === PREFIX ? parts[2] : undefined;
}

function parseKey(text: string): Buffer {
  const trimmed = text.trim();
  const candidates = [
    /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : null,
    Buffer.from(trimmed, 'base64'),
  ];
  const key = candidates.find((b) => b !== null && b.length === 32);
  if (!key) {
    throw new RewindError(
      'VALIDATION_FAILED',
      `${SECRETS_KEY_ENV} must be 32 bytes written as base64 (44 characters) or hex (64 characters); got ${trimmed.length} characters; ${MAKE_KEY}`,
      { field: SECRETS_KEY_ENV },
    );
  }
  return key;
}

const idOf = (key: Buffer) => createHash('sha256').update(key).digest('hex').slice(0, 8);

export function createSecretBox(keyText: string | undefined): SecretBox {
  let key = keyText ? parseKey(keyText) : null;
  let keyId = key ? idOf(key) : '';
  const ring = new Map<string, Buffer>(key ? [[keyId, key]] : []);
  const noKey = () =>
    new RewindError(
      'VALIDATION_FAILED',
      `secrets need a key: set ${SECRETS_KEY_ENV} for the server; ${MAKE_KEY}`,
      {
        field: SECRETS_KEY_ENV,
      },
    );
  return {
    get ready() {
      return key !== null;
    },
    get keyId() {
      return keyId;
    },
    get keyIds() {
      return [...ring.keys()];
    },
    requireKey() {
      if (!key) throw noKey();
    },
    rotate(text) {
      const next = parseKey(text);
      key = next;
      keyId = idOf(next);
      ring.set(keyId, next);
      return keyId;
    },
    encrypt(plaintext) {
      if (!key) throw noKey();
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [
        PREFIX,
        keyId,
        iv.toString('base64url'),
        tag.toString('base64url'),
        body.toString('base64url'),
      ].join(':');
    },
    decrypt(sealed) {
      if (!key) throw noKey();
      const parts = sealed.split(':');
      if (parts.length !== 6 || `${parts[0]}:${parts[1]}` !== PREFIX) {
        throw new RewindError('VALIDATION_FAILED', 'a stored secret is not in the rwenc:v1 format', {});
      }
      const [, , id, iv, tag, body] = parts as [string, string, string, string, string, string];
      const opener = ring.get(id);
      if (!opener) {
        throw new RewindError(
          'VALIDATION_FAILED',
          `a secret was sealed with another key (key id ${id}, this server's ${keyId}); start the server with the ${SECRETS_KEY_ENV} it was set with`,
          { field: SECRETS_KEY_ENV },
        );
      }
      const decipher = createDecipheriv('aes-256-gcm', opener, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    },
  };
}
