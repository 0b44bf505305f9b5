// Making revisions from requests, against a real SQLite store: what a deploy carries from the
// stable revision, and config changes that are refused without leaving a revision behind.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { shopSpec, tempSqliteStore } from '../../../test/support/controller-fixture.ts';
import { RewindError } from '../../shared/errors.ts';
import type { Store } from '../../store/types.ts';
import {
  checkVersion,
  configChanges,
  createConfigRevision,
  createDeployRevision,
  describeConfigChanges,
} from './new-revision.ts';
import { parseRevisionSpec } from './revision-spec.ts';
import { createSecretBox } from './secret-box.ts';

const spec = shopSpec();
const box = createSecretBox(randomBytes(32).toString('base64'));
let temp: Awaited<ReturnType<typeof tempSqliteStore>>;
let store: Store;

before(async () => {
  temp = await tempSqliteStore('rewind-revisions-');
  store = temp.store;
  await store.apps.upsert('shop', spec);
});
after(() => temp.close());

const validation = (pattern: RegExp) => (err: unknown) =>
  err instanceof RewindError && err.code === 'VALIDATION_FAILED' && pattern.test(err.message);

test('a version that could escape the run command is refused', () => {
  for (const ok of ['v1', '1.2.3', 'v2+build_7']) checkVersion(ok);
  for (const bad of ['', '../x', 'a/b', '.hidden', 'v 1'])
    assert.throws(() => checkVersion(bad), validation(/is not valid/), bad);
});

test('a deploy carries config, secrets and the flag set from the stable revision; the first follows nothing', async () => {
  const first = await createDeployRevision(
    store,
    { spec, baseDir: temp.dir },
    { version: 'v1' },
    { migrationLevel: async () => null, flagSetVersion: async () => null },
  );
  assert.equal(first.from, null);
  assert.equal(parseRevisionSpec(first.revision.spec).command, 'shop --version v1');

  await store.apps.setStableRevision('shop', first.revision.number);
  const changes = configChanges({ config: { MODE: 'fast' }, secrets: { TOKEN: 's3cret' } });
  assert.equal(describeConfigChanges(changes), 'set config MODE, set secret TOKEN');
  const configured = await createConfigRevision(store, 'shop', changes, { actor: 'ops' }, box, async () => 4);
  assert.equal(configured.from, first.revision.number);
  assert.equal(configured.revision.reason, 'set config MODE, set secret TOKEN');
  const sealed = parseRevisionSpec(configured.revision.spec);
  assert.notEqual(sealed.secrets.TOKEN, 's3cret', 'sealed');
  assert.equal(box.decrypt(sealed.secrets.TOKEN!), 's3cret');

  await store.apps.setStableRevision('shop', configured.revision.number);
  const next = await createDeployRevision(
    store,
    { spec, baseDir: temp.dir },
    { version: 'v2', env: { EXTRA: '${version}' }, actor: 'ci', reason: 'ship' },
    { migrationLevel: async () => 7, flagSetVersion: async () => null },
  );
  const carried = parseRevisionSpec(next.revision.spec);
  assert.equal(next.from, configured.revision.number);
  assert.deepEqual(carried.config, { MODE: 'fast' });
  assert.equal(carried.secrets.TOKEN, sealed.secrets.TOKEN);
  assert.equal(carried.flagSetVersion, 4, 'no flag set in force now: the stable one carries on');
  assert.equal(carried.migrationLevel, 7);
  assert.equal(carried.env.EXTRA, 'v2');
  assert.equal(carried.author, 'ci');
  assert.equal(next.revision.reason, 'ship');
});

test('config changes are checked, and an unset of a key that is not set makes no revision', async () => {
  assert.throws(() => configChanges({}), validation(/nothing to change/));
  assert.throws(
    () => configChanges({ config: { '1BAD': 'x' } }),
    validation(/not a valid environment variable name/),
  );
  const count = (await store.revisions.list('shop')).length;
  await assert.rejects(
    createConfigRevision(
      store,
      'shop',
      configChanges({ config: { NEVER_SET: null } }),
      {},
      box,
      async () => null,
    ),
    validation(/config key "NEVER_SET" is not set on app shop; nothing to unset/),
  );
  assert.equal((await store.revisions.list('shop')).length, count);
  await assert.rejects(
    createConfigRevision(store, 'other', configChanges({ config: { A: '1' } }), {}, box, async () => null),
    (err: unknown) => err instanceof RewindError && err.code === 'NO_EARLIER_REVISION',
  );
});
