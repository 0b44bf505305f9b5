// `rewind secrets rotate-key`: every stored revision's secrets re-sealed under a new key, in one
// transaction, while the server runs. Running instances keep their (opened) environment; new ones
// are opened with either key until the server restarts with the new one alone.
import { RewindError } from '../../shared/errors.ts';
import type { Store } from '../../store/types.ts';
import { parseRevisionSpec } from './revision-spec.ts';
import { SECRETS_KEY_ENV, type SecretBox } from './secret-box.ts';

export interface RotationResult {
  readonly keyId: string;
  readonly previousKeyId: string;
  readonly revisions: number;
  readonly secrets: number;
}

export async function rotateSecretsKey(
  store: Store,
  apps: readonly string[],
  box: SecretBox,
  newKeyText: string,
): Promise<RotationResult> {
  if (!box.ready)
    throw new RewindError(
      'INVALID_STATE',
      `this server has no ${SECRETS_KEY_ENV}, so it cannot open stored secrets to re-seal them; start it with the current key first`,
      { field: SECRETS_KEY_ENV },
    );
  const previousKeyId = box.keyId;
  // Every stored secret must open before anything changes (the start-up check makes this so).
  for (const app of apps)
    for (const rev of await store.revisions.list(app))
      for (const sealed of Object.values(parseRevisionSpec(rev.spec).secrets)) box.decrypt(sealed);
  let keyId: string;
  try {
    keyId = box.rotate(newKeyText);
  } catch (err) {
    throw new RewindError(
      'VALIDATION_FAILED',
      `newKey: ${(err as Error).message.replace(SECRETS_KEY_ENV, 'the new key')}`,
      {
        field: 'newKey',
      },
    );
  }
  // From here new secrets are sealed with the new key; the re-sealing below covers every
  // revision made before, and the box opens both until the server restarts.
  const updates: { app: string; number: number; spec: unknown }[] = [];
  let secrets = 0;
  for (const app of apps) {
    for (const rev of await store.revisions.list(app)) {
      const spec = parseRevisionSpec(rev.spec);
      const entries = Object.entries(spec.secrets);
      if (entries.length === 0) continue;
      const resealed = Object.fromEntries(
        entries.map(([k, sealed]) => [k, box.encrypt(box.decrypt(sealed))]),
      );
      secrets += entries.length;
      updates.push({ app, number: rev.number, spec: { ...(rev.spec as object), secrets: resealed } });
    }
  }
  await store.revisions.replaceSpecs(updates);
  return { keyId, previousKeyId, revisions: updates.length, secrets };
}
