// Reads rewind.yaml: YAML syntax, then the schema, then cross-app checks. Every problem names the
// file, the line, the path in the document and what to write instead.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isMap, isNode, isScalar, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type RewindConfig } from '../../spec/app-spec.ts';
import { PROVIDER_FIELDS, type ProviderTypes } from '../../spec/provider-spec.ts';

export interface ConfigProblem {
  readonly path: string;
  /** 1-based, like an editor's; null when the problem is not at one place (a file not found). */
  readonly line: number | null;
  readonly column?: number;
  readonly message: string;
  /** The text of that line, shown under the message with a caret at the column. */
  readonly source?: string;
}

/** `file:line:col: path: message`, then the offending line with a caret, as compilers print them. */
function formatProblem(file: string, p: ConfigProblem): string {
  const at = p.line === null ? '' : `:${p.line}${p.column ? `:${p.column}` : ''}`;
  const head = `  ${file}${at}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
  if (p.line === null || p.source === undefined) return head;
  const gutter = String(p.line).padStart(6);
  // Tabs kept, so that the caret lines up under a tab-indented line too.
  const pad = p.source.slice(0, (p.column ?? 1) - 1).replace(/[^\t]/g, ' ');
  const caret = p.column ? `\n${' '.repeat(6)} | ${pad}^` : '';
  return `${head}\n${gutter} | ${p.source}${caret}`;
}

export class ConfigError extends Error {
  readonly file: string;
  readonly problems: readonly ConfigProblem[];
  constructor(file: string, problems: readonly ConfigProblem[]) {
    super(`invalid config ${file}:\n${problems.map((p) => formatProblem(file, p)).join('\n')}`);
    this.name = 'ConfigError';
    this.file = file;
    this.problems = problems;
  }
}

export interface LoadedConfig {
  readonly file: string;
  /** Directory of the file: relative cwd and paths in the config resolve against it. */
  readonly baseDir: string;
  readonly config: RewindConfig;
}

export interface LoadOptions {
  /** The provider types that exist (the registry's): an app naming another one is a config error. */
  readonly providerTypes?: ProviderTypes;
}

export function loadConfigFile(file: string, options: LoadOptions = {}): LoadedConfig {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [
      {
        path: '',
        line: null,
        message: `cannot read the file (${(err as NodeJS.ErrnoException).code}); pass --config PATH`,
      },
    ]);
  }
  return { file: abs, baseDir: resolve(abs, '..'), config: parseConfig(text, file, options) };
}

export function parseConfig(text: string, file = 'rewind.yaml', options: LoadOptions = {}): RewindConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const textLines = text.split(/\r?\n/);
  /** Line, column and the line's text at an offset of the text. */
  const position = (offset: number): Pick<ConfigProblem, 'line' | 'column' | 'source'> => {
    const { line, col } = lines.linePos(offset);
    const source = textLines[line - 1];
    return { line, column: col, source: source === undefined || source === '' ? '(end of file)' : source };
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({
        path: '',
        ...position(e.pos[0]),
        message: `YAML syntax: ${e.message.split('\n')[0]}`,
      })),
    );
  }
  const result = configSchema.safeParse(doc.toJS());
  /** Where the node at `path` starts; with `key`, where the key of its last step is written. */
  const lineOf = (
    path: readonly PropertyKey[],
    key = false,
  ): Pick<ConfigProblem, 'line' | 'column' | 'source'> => {
    const parent = key ? doc.getIn(path.slice(0, -1) as (string | number)[], true) : undefined;
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === path.at(-1));
      if (isNode(pair?.key) && pair.key.range) return position(pair.key.range[0]);
    }
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as (string | number)[], true);
      if (isNode(node) && node.range) return position(node.range[0]);
    }
    return { line: null };
  };
  if (!result.success)
    throw new ConfigError(
      file,
      result.error.issues.map((i) => toProblem(i, lineOf)),
    );
  const problems: ConfigProblem[] = [];
  const seen = new Map<string, number>();
  result.data.apps.forEach((app, i) => {
    const listen = `${app.listen.host}:${app.listen.port}`;
    const nameAt = seen.get(`name:${app.name}`);
    if (nameAt !== undefined)
      problems.push({
        path: `apps.${i}.name`,
        ...lineOf(['apps', i, 'name']),
        message: `"${app.name}" is declared twice (also apps.${nameAt}); give each app its own name`,
      });
    const portAt = seen.get(`listen:${listen}`);
    if (portAt !== undefined)
      problems.push({
        path: `apps.${i}.listen`,
        ...lineOf(['apps', i, 'listen']),
        message: `${listen} is already the listener of apps.${portAt}; give each app its own port`,
      });
    seen.set(`name:${app.name}`, i);
    seen.set(`listen:${listen}`, i);
    const known = options.providerTypes;
    for (const { field, registry, at } of known ? PROVIDER_FIELDS : []) {
      const type = app[field].type;
      const types = known![registry];
      if (!types.includes(type))
        problems.push({
          path: `apps.${i}.${at.join('.')}`,
          ...lineOf(['apps', i, ...at]),
          message: `"${type}" is not a ${field} provider; the types are: ${types.join(', ')}`,
        });
    }
  });
  if (problems.length) throw new ConfigError(file, problems);
  return result.data;
}

function toProblem(
  issue: z.core.$ZodIssue,
  lineOf: (p: readonly PropertyKey[], key?: boolean) => Pick<ConfigProblem, 'line' | 'column' | 'source'>,
): ConfigProblem {
  const path = issue.path.map(String).join('.');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}; remove it or check its spelling`;
  } else if (issue.code === 'invalid_type' && message.includes('received undefined')) {
    message = `missing; add ${issue.path.at(-1)?.toString() ?? 'it'} (${issue.expected})`;
  } else if (issue.code === 'invalid_union') {
    message = issue.path.includes('hooks')
      ? 'is not a hook; a hook is {command: "..."} or {webhook: {url: "http://..."}}, each with an optional timeout'
      : issue.path.includes('steps')
        ? 'is not a step; a step is one of: setWeight: 0..100, pause: 30s (or {} to wait for promote), analysis: { duration: 1m }'
        : 'does not match any accepted form; a check is either {http: {path, expectStatus}} or {command: "..."}';
  }
  const unknownKey = issue.code === 'unrecognized_keys';
  const at = unknownKey ? [...issue.path, issue.keys[0] ?? ''] : issue.path;
  return { path, ...lineOf(at, unknownKey), message };
}
