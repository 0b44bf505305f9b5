// `rewind flags`: an app's flag set in flagd's format. Every change is a new immutable version
// (who, when, why, the diff); `disable` is the manual kill switch and opens an incident.
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ApiClient } from './api-client.ts';
import { json, print } from './follow-rollout.ts';
import { ago, table } from './format.ts';

interface FlagDef {
  state: string;
  variants: Record<string, unknown>;
  defaultVariant?: string | null;
  targeting?: unknown;
}
interface Change {
  flag: string;
  change: string;
  fields: string[];
}
interface Warning {
  flag?: string;
  path: string;
  message: string;
}
interface VersionRecord {
  version: number;
  author: string;
  reason: string | null;
  diff: Change[];
  copiedFrom: number | null;
  createdAt: number;
  warnings: Warning[];
}

const positive = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`${name} takes a version number, got "${value}"`);
  return n;
};

/** JSON from a file (or - for stdin) or inline text; the error names where it came from. */
function readJson(source: { file?: string; json?: string }, what: string): unknown {
  const text =
    source.json ??
    (source.file === '-'
      ? readFileSync(0, 'utf8')
      : source.file
        ? readFileSync(source.file, 'utf8')
        : undefined);
  if (text === undefined) throw new InvalidArgumentError(`give the ${what} with --file FILE or --json TEXT`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(
      `${source.file ? `--file ${source.file}` : '--json'} is not valid JSON (${(err as Error).message}); the ${what} is JSON in flagd's format`,
    );
  }
}

const describeChanges = (changes: readonly Change[]) =>
  changes
    .map((c) => `${c.change} ${c.flag}${c.change === 'changed' ? ` (${c.fields.join(', ')})` : ''}`)
    .join('; ') || 'no change';

export function registerFlagCommands(program: Command): void {
  const flags = program
    .command('flags')
    .description("Feature flags of an app (flagd's format), versioned; served to the app over OFREP");
  const path = (app: string, rest = '') => `/apps/${encodeURIComponent(app)}/flags${rest}`;
  const done = (
    opts: { json?: boolean },
    r: { version: number; changes: Change[]; warnings?: Warning[] },
  ) => {
    if (opts.json) return json(r);
    print(`flag set version ${r.version}: ${describeChanges(r.changes)}`);
    const warnings = r.warnings ?? [];
    if (warnings.length > 0) {
      const flags = new Set(warnings.map((w) => w.flag).filter(Boolean)).size;
      print(
        `${warnings.length} warning${warnings.length === 1 ? '' : 's'} in ${flags} flag${flags === 1 ? '' : 's'}: flagd loads these too, and they evaluate to an error or the default at run time`,
      );
      for (const w of warnings) print(`  warning: ${w.message}`);
    }
  };

  flags
    .command('list <app>')
    .description('The flags in force, with their state and default variant')
    .option('--json', 'print the flag set as JSON')
    .action(async (app: string, opts) => {
      const r = await new ApiClient().get<{ version: number; flags: Record<string, FlagDef> }>(path(app));
      if (opts.json) return json(r);
      print(`flag set version ${r.version}`);
      print(
        table(
          Object.entries(r.flags).map(([k, f]) => [
            k,
            f.state,
            f.defaultVariant
              ? `${f.defaultVariant}=${JSON.stringify(f.variants[f.defaultVariant])}`
              : '(code default)',
            Object.keys(f.variants).join(','),
            f.targeting && Object.keys(f.targeting).length ? 'yes' : '',
          ]),
          ['FLAG', 'STATE', 'DEFAULT', 'VARIANTS', 'TARGETING'],
        ),
      );
    });

  flags
    .command('get <app> <flag>')
    .description("One flag's definition")
    .option('--json', 'print as JSON (default)')
    .action(async (app: string, flag: string) => {
      json(await new ApiClient().get(path(app, `/${encodeURIComponent(flag)}`)));
    });

  flags
    .command('set <app> [flag]')
    .description(
      'Set one flag (with its name) or replace the whole flag set (without), from JSON in flagd format; what flagd refuses is refused, what it loads but objects to is loaded and listed as warnings',
    )
    .option('--file <file>', 'JSON file (- for stdin)')
    .option('--json-text <json>', 'the JSON inline')
    .option('--reason <text>', 'why; recorded with the version')
    .option('--json', 'print the result as JSON')
    .action(async (app: string, flag: string | undefined, opts) => {
      const api = new ApiClient();
      const body = readJson({ file: opts.file, json: opts.jsonText }, flag ? 'flag definition' : 'flag set');
      const r = flag
        ? await api.put<{ version: number; changes: Change[]; warnings: Warning[] }>(
            path(app, `/${encodeURIComponent(flag)}`),
            {
              definition: body,
              reason: opts.reason,
            },
          )
        : await api.put<{ version: number; changes: Change[]; warnings: Warning[] }>(path(app), {
            document: body,
            reason: opts.reason,
          });
      done(opts, r);
    });

  flags
    .command('enable <app> <flag>')
    .description('Enable a flag')
    .option('--reason <text>', 'why; recorded with the version')
    .option('--json', 'print the result as JSON')
    .action(async (app: string, flag: string, opts) => {
      done(
        opts,
        await new ApiClient().post(path(app, `/${encodeURIComponent(flag)}/enable`), { reason: opts.reason }),
      );
    });

  flags
    .command('disable <app> <flag>')
    .description(
      'Kill switch: disable a flag (clients fall back to their code default) and open an incident; the release stays',
    )
    .requiredOption('--reason <text>', 'why; recorded with the version and in the incident')
    .option('--json', 'print the result as JSON')
    .action(async (app: string, flag: string, opts) => {
      const r = await new ApiClient().post<{ version: number; incident: { id: string; status: string } }>(
        path(app, `/${encodeURIComponent(flag)}/disable`),
        { reason: opts.reason },
      );
      if (opts.json) return json(r);
      print(
        `flag ${flag} disabled: flag set version ${r.version}; incident ${r.incident.id} (${r.incident.status})`,
      );
      print(`report: rewind incidents show ${r.incident.id}`);
    });

  flags
    .command('history <app>')
    .description(
      'Flag-set versions, newest first: who, when, why, what changed, how many warnings (--json lists them)',
    )
    .addOption(new Option('--limit <n>', 'how many').default(20).argParser(positive('--limit')))
    .option('--json', 'print as JSON')
    .action(async (app: string, opts) => {
      const list = await new ApiClient().get<VersionRecord[]>(path(app, `/history?limit=${opts.limit}`));
      if (opts.json) return json(list);
      print(
        table(
          list.map((v) => [
            v.version,
            ago(v.createdAt),
            v.author,
            v.copiedFrom ? `copy of ${v.copiedFrom}` : '',
            describeChanges(v.diff),
            v.warnings.length ? String(v.warnings.length) : '',
            v.reason ?? '',
          ]),
          ['VERSION', 'CREATED', 'BY', 'SOURCE', 'CHANGES', 'WARNINGS', 'REASON'],
        ),
      );
    });

  flags
    .command('rollback <app>')
    .description('Put an earlier flag-set version back in force (as a new version that copies it)')
    .addOption(
      new Option('--to-version <n>', 'the version to restore')
        .argParser(positive('--to-version'))
        .makeOptionMandatory(),
    )
    .option('--reason <text>', 'why; recorded with the version')
    .option('--json', 'print the result as JSON')
    .action(async (app: string, opts) => {
      done(
        opts,
        await new ApiClient().post(path(app, '/rollback'), {
          toVersion: opts.toVersion,
          reason: opts.reason,
        }),
      );
    });
}
