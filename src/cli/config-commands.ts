// `rewind config` and `rewind secrets`: config and secrets are part of each revision; setting one
// makes a new revision that is rolled out like any other, and a rollback restores them.
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { ConfigBody } from '../api/requests.ts';
import type { RevisionDiff, Rollout } from '../api/responses.ts';
import { ApiClient } from './api-client.ts';
import { followRollout, json, print } from './follow-rollout.ts';
import { table } from './format.ts';

const int = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`${name} takes a revision number, got "${value}"`);
  return n;
};
const collect = (value: string, acc: string[]) => [...acc, value];

/** KEY=VALUE arguments and --unset KEY options as one change map (null unsets). */
function changesOf(pairs: readonly string[], unset: readonly string[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new InvalidArgumentError(`expected KEY=VALUE, got "${pair}"`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  for (const key of unset) out[key] = null;
  return out;
}

interface DiffEntry {
  kind: string;
  key: string;
  change: string;
  from?: string | number | null;
  to?: string | number | null;
}

/** The heading of `config diff`: the two revisions, and why the older one when it was not given. */
export function diffHeading(d: Pick<RevisionDiff, 'from' | 'to' | 'basis' | 'skipped'>): string {
  const head = `revision ${d.from} -> ${d.to}`;
  if (d.basis === 'previous') return `${head} (the revision numbered before ${d.to})`;
  if (d.basis === 'given') return head;
  const skipped = d.skipped.map((s) => `${s.revision} ${s.outcome ?? 'never served'}`).join(', ');
  return `${head} (revision ${d.from} served before revision ${d.to}${skipped ? `; skipped ${skipped}` : ''})`;
}

export function registerConfigCommands(program: Command, timeoutOption: () => Option): void {
  const config = program
    .command('config')
    .description('Config of an app: environment variables versioned with each revision');

  config
    .command('get <app>')
    .description("The stable (or the named) revision's config, and its secrets by name")
    .addOption(new Option('--revision <n>', 'another revision').argParser(int('--revision')))
    .option('--json', 'print as JSON')
    .action(async (app: string, opts) => {
      const q = opts.revision ? `?revision=${opts.revision}` : '';
      const c = await new ApiClient().get<{
        revision: number;
        config: Record<string, string>;
        secrets: string[];
      }>(`/apps/${encodeURIComponent(app)}/config${q}`);
      if (opts.json) return json(c);
      print(`revision ${c.revision}`);
      print(
        table(
          [
            ...Object.entries(c.config).map(([k, v]) => [k, v, 'config']),
            ...c.secrets.map((k) => [k, '(secret)', 'secret']),
          ],
          ['KEY', 'VALUE', 'KIND'],
        ),
      );
    });

  const setter = (parent: Command, field: 'config' | 'secrets') =>
    parent
      .command('set <app> [pairs...]')
      .description(
        field === 'config'
          ? 'Set (or --unset) config keys: a new revision, rolled out like any other'
          : 'Set (or --unset) secrets: sealed with $REWIND_SECRETS_KEY on the server, never shown again; a new revision, rolled out like any other',
      )
      .option('--unset <KEY>', 'remove a key (repeatable)', collect, [])
      .option('--reason <text>', 'why; recorded with the revision')
      .option('--wait', 'block until the rollout ends; exit 0 when stable, 2 rolled back, 3 failed')
      .addOption(timeoutOption())
      .option('--json', 'print the result as JSON')
      .action(async (app: string, pairs: string[], opts) => {
        const api = new ApiClient();
        const rollout = await api.post<Rollout>(`/apps/${encodeURIComponent(app)}/config`, {
          [field]: changesOf(pairs, opts.unset),
          reason: opts.reason,
        } satisfies ConfigBody);
        await followRollout(api, rollout, opts);
      });

  setter(config, 'config');

  config
    .command('diff <app>')
    .description(
      'What changed between two revisions: version, env, config, secrets (by name), flag set, migration level',
    )
    .addOption(
      new Option(
        '--from <n>',
        'older revision (default: the one that served before --to, skipping failed, aborted and rolled-back ones)',
      ).argParser(int('--from')),
    )
    .addOption(new Option('--to <n>', 'newer revision (default: the stable one)').argParser(int('--to')))
    .option('--json', 'print as JSON')
    .action(async (app: string, opts) => {
      const q = new URLSearchParams();
      if (opts.from) q.set('from', String(opts.from));
      if (opts.to) q.set('to', String(opts.to));
      const d = await new ApiClient().get<Omit<RevisionDiff, 'changes'> & { changes: DiffEntry[] }>(
        `/apps/${encodeURIComponent(app)}/revisions/diff?${q}`,
      );
      if (opts.json) return json(d);
      print(diffHeading(d));
      if (d.changes.length === 0) return print('no differences');
      const show = (v: unknown) => (v === undefined ? '(hidden)' : v === null ? '-' : String(v));
      print(
        table(
          d.changes.map((c) => [c.kind, c.key, c.change, show(c.from), show(c.to)]),
          ['KIND', 'KEY', 'CHANGE', 'FROM', 'TO'],
        ),
      );
    });

  const secrets = program
    .command('secrets')
    .description('Secrets of an app: encrypted at rest, versioned with each revision, never printed');
  setter(secrets, 'secrets');
  secrets
    .command('list <app>')
    .description("Names of the stable revision's secrets")
    .option('--json', 'print as JSON')
    .action(async (app: string, opts) => {
      const c = await new ApiClient().get<{ revision: number; secrets: string[] }>(
        `/apps/${encodeURIComponent(app)}/config`,
      );
      if (opts.json) return json({ revision: c.revision, secrets: c.secrets });
      for (const k of c.secrets) print(k);
    });
  secrets
    .command('rotate-key')
    .description(
      'Re-seal every stored secret under a new key, in one transaction, without restarting instances; then restart the server with the new REWIND_SECRETS_KEY',
    )
    .option('--new-key-file <file>', 'file holding the new key (default: $REWIND_NEW_SECRETS_KEY)')
    .option('--reason <text>', 'why; recorded in the audit trail')
    .option('--json', 'print the result as JSON')
    .action(async (opts) => {
      const newKey = opts.newKeyFile
        ? readFileSync(opts.newKeyFile, 'utf8').trim()
        : process.env.REWIND_NEW_SECRETS_KEY?.trim();
      if (!newKey)
        throw new InvalidArgumentError(
          'give the new key: --new-key-file FILE or $REWIND_NEW_SECRETS_KEY (make one with: openssl rand -base64 32)',
        );
      const r = await new ApiClient().post<{
        keyId: string;
        previousKeyId: string;
        revisions: number;
        secrets: number;
      }>('/secrets/rotate-key', { newKey, reason: opts.reason });
      if (opts.json) return json(r);
      print(
        `re-sealed ${r.secrets} secret(s) in ${r.revisions} revision(s) under key id ${r.keyId} (was ${r.previousKeyId})`,
      );
      print(
        `restart the server with the new REWIND_SECRETS_KEY (key id ${r.keyId}) from now on: the old key no longer opens the stored secrets`,
      );
    });
}
