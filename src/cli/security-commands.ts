// `rewind tokens` and `rewind audit`: who may call the API, and what was asked of it.
import { type Command, Option } from 'commander';
import type { TokenBody } from '../api/requests.ts';
import type { AuditAnswer, Token, TokenCreated } from '../api/responses.ts';
import { ApiClient } from './api-client.ts';
import { EXIT } from './exit-codes.ts';
import { json, print } from './follow-rollout.ts';
import { ago, table } from './format.ts';

const stateOf = (t: Token, now = Date.now()) =>
  t.revokedAt ? 'revoked' : t.expiresAt !== null && t.expiresAt <= now ? 'expired' : 'active';

export function registerSecurityCommands(program: Command): void {
  const tokens = program
    .command('tokens')
    .description('API tokens: each has a name, a role (viewer, deployer, admin), an optional app and expiry');

  tokens
    .command('create <name>')
    .description('Create a token and print it, once: it is stored only as a hash')
    .addOption(
      new Option('--role <role>', 'what it may do')
        .choices(['viewer', 'deployer', 'admin'])
        .makeOptionMandatory(),
    )
    .option('--app <app>', 'the one app it may act on (default: every app)')
    .option('--expires <duration>', 'lifetime: 30d, 12h, 90m (default: no expiry)')
    .option('--json', 'print as JSON')
    .action(async (name: string, opts) => {
      const t = await new ApiClient().post<TokenCreated>('/tokens', {
        name,
        role: opts.role,
        app: opts.app,
        expires: opts.expires,
      } satisfies TokenBody);
      if (opts.json) return json(t);
      print(t.token);
      process.stderr.write(
        `token ${t.name}: role ${t.role}${t.app ? `, app ${t.app}` : ''}${t.expiresAt ? `, expires ${new Date(t.expiresAt).toISOString()}` : ''}. It is not shown again; use it as REWIND_TOKEN.\n`,
      );
    });

  tokens
    .command('list')
    .description('Every token (never the token itself): name, role, app, state')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      const list = await new ApiClient().get<Token[]>('/tokens');
      if (opts.json) return json(list);
      print(
        table(
          list.map((t) => [
            t.name,
            t.role,
            t.app ?? '*',
            stateOf(t),
            ago(t.createdAt),
            t.expiresAt ? new Date(t.expiresAt).toISOString() : '-',
          ]),
          ['NAME', 'ROLE', 'APP', 'STATE', 'CREATED', 'EXPIRES'],
        ),
      );
    });

  tokens
    .command('revoke <name>')
    .description('Revoke a token: requests with it are refused from now on')
    .action(async (name: string) => {
      await new ApiClient().post(`/tokens/${encodeURIComponent(name)}/revoke`, {});
      print(`token ${name} revoked`);
    });

  program
    .command('audit')
    .description('The audit trail: every mutating API request, allowed or refused, hash-chained')
    .option('--app <app>', 'only this app')
    .option('--since <duration>', 'only the last 1h, 30m, 7d...')
    .option('--verify', 'check the hash chain from its first entry; exit 1 when broken')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      const q = new URLSearchParams();
      if (opts.app) q.set('app', opts.app);
      if (opts.since) q.set('since', opts.since);
      if (opts.verify) q.set('verify', 'true');
      const a = await new ApiClient().get<AuditAnswer>(`/audit?${q}`);
      if (opts.json) json(a);
      else {
        print(
          table(
            a.entries.map((e) => [
              new Date(e.at).toISOString().replace('T', ' ').slice(0, 19),
              e.actor ?? '-',
              e.role ?? '-',
              e.remote,
              `${e.method} ${e.route}`,
              e.app ?? '-',
              e.revision ?? '-',
              `${e.outcome} ${e.status}`,
              e.reason ?? '',
            ]),
            ['TIME', 'ACTOR', 'ROLE', 'FROM', 'REQUEST', 'APP', 'REV', 'OUTCOME', 'REASON'],
          ),
        );
        if (a.verify)
          print(
            a.verify.ok
              ? `\nchain verified: ${a.verify.entries} entries, each holds the hash of the one before`
              : `\nchain BROKEN at entry ${a.verify.id}: ${a.verify.problem}`,
          );
      }
      if (a.verify && !a.verify.ok) process.exitCode = EXIT.ERROR;
    });
}
