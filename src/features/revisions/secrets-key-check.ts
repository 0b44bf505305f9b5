// At start: the stored secrets must open with this server's key. A server started with another
// key (or none) would start every instance with secrets it cannot open; it refuses to start
// instead, naming the key id the stored secrets need.
import type { Store } from '../../store/types.ts';
import { parseRevisionSpec } from './revision-spec.ts';
import { SECRETS_KEY_ENV, type SecretBox, sealedKeyId } from './secret-box.ts';

/** Why this server cannot open the stored secrets of `apps`, or null when it can. */
export async function secretsKeyProblem(
  store: Store,
  apps: readonly string[],
  box: SecretBox,
): Promise<string | null> {
  for (const app of apps) {
    for (const rev of await store.revisions.list(app)) {
      const secrets = parseRevisionSpec(rev.spec).secrets;
      for (const [name, sealed] of Object.entries(secrets)) {
        const id = sealedKeyId(sealed);
        if (id === undefined || box.keyIds.includes(id)) continue;
        const ours = box.ready
          ? `this server's ${SECRETS_KEY_ENV} has key id ${box.keyId}`
          : `${SECRETS_KEY_ENV} is not set`;
        return `secret ${name} of app ${app} revision ${rev.number} was sealed with the key whose id is ${id}, but ${ours}; start the server with the ${SECRETS_KEY_ENV} whose id is ${id} (the id is the first 8 hex digits of the sha256 of the 32 key bytes)`;
      }
    }
  }
  return null;
}
