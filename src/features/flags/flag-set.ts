// The flag-set document: flagd's flag definition format, so a set that Rewind accepts loads in flagd
// and the other way round. parseFlagSet is the only way to make one. Like flagd, it refuses only what
// flagd refuses (a flag that is not an object, a state other than ENABLED/DISABLED, variants that are
// not an object, a defaultVariant naming no variant) plus a flag key unsafe in a URL, and throws one
// FlagSetError listing every refusal. Whatever else flagd's schema objects to, flagd loads with a
// warning and evaluates to an error or the default at run time; so does Rewind, and warningsOf(set)
// lists those warnings, each naming the flag, the JSON path, the problem, what flagd does and the fix.

import type { Logger } from '@openfeature/core';
import { at, FlagSetError, type Report } from './flag-set-error.ts';
import { distillSchemaErrors } from './flagd-schema-errors.ts';
import { loadFlagdStorage } from './flagd-storage.ts';
import { checkResults, checkRule } from './targeting-rule.ts';

export { FlagSetError } from './flag-set-error.ts';

export type FlagState = 'ENABLED' | 'DISABLED';
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | JsonObject;
export type JsonObject = { readonly [key: string]: JsonValue };
/** All variants of one flag share one of these types. */
export type VariantValue = boolean | string | number | JsonObject;
export type FlagMetadata = Readonly<Record<string, string | number | boolean>>;

export interface FlagDefinition {
  readonly state: FlagState;
  readonly variants: Readonly<Record<string, VariantValue>>;
  /**
   * Served when targeting is absent or returns null: a key of `variants`, or null/absent for none,
   * in which case the application's code default is served (OFREP's codeDefaultFlag).
   */
  readonly defaultVariant?: string | null;
  /** A JsonLogic rule returning a variant name; `{}` means none. */
  readonly targeting?: JsonObject;
  readonly metadata?: FlagMetadata;
}

export interface FlagSet {
  readonly $schema?: string;
  readonly flags: Readonly<Record<string, FlagDefinition>>;
  /** Shared rules, used in targeting as {"$ref": "name"}. */
  readonly $evaluators?: Readonly<Record<string, JsonObject>>;
  /** Merged into every flag's metadata; a flag's own keys win. */
  readonly metadata?: FlagMetadata;
}

export type FlagField = 'state' | 'variants' | 'defaultVariant' | 'targeting' | 'metadata';

export interface FlagChange {
  readonly flag: string;
  readonly change: 'added' | 'removed' | 'changed';
  /** The fields that differ; for added and removed flags, the fields the flag defines. */
  readonly fields: readonly FlagField[];
  readonly before?: FlagDefinition;
  readonly after?: FlagDefinition;
}

/** Letters, digits, `.`, `_`, `-`: OFREP clients put the key in the URL path without encoding it. */
export const FLAG_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const FLAGD_SCHEMA_URL = 'https://flagd.dev/schema/v0/flags.json';

const SET_FIELDS = ['$schema', 'flags', '$evaluators', 'metadata'];
const FLAG_FIELDS: readonly FlagField[] = ['state', 'variants', 'defaultVariant', 'targeting', 'metadata'];
const EXAMPLE_FLAG = '{"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}';

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A problem flagd loads anyway; kept with the flag-set version and shown by `rewind flags set`. */
export interface FlagSetWarning {
  /** The flag the problem is in; absent for $evaluators and the set's metadata. */
  readonly flag?: string;
  /** JSON path from the document's root: `flags.x.targeting.if[0].sem_ver[2]`. */
  readonly path: string;
  /** `flag \`x\` targeting.if[0].sem_ver[2]: "v1.0.0" is not a semantic version ... Fix: ...` */
  readonly message: string;
}

const WARNINGS = new WeakMap<FlagSet, readonly FlagSetWarning[]>();

/** The warnings of a set made by parseFlagSet (or one of the functions that edit a set). */
export function warningsOf(set: FlagSet): readonly FlagSetWarning[] {
  return WARNINGS.get(set) ?? [];
}

/**
 * Parses and validates a flag set given as JSON text or as an already-parsed value. Throws a
 * FlagSetError listing every refusal; the warnings of the returned set are in warningsOf(set).
 * `edited`: the set is `from` with flag `changed` added or replaced and nothing else changed, so
 * flagd-core loads that flag alone and the other flags keep the warnings flagd-core gave them
 * (loading the whole set costs about 0.25 ms a flag, twice: the lenient and the strict load).
 */
export function parseFlagSet(
  input: unknown,
  edited?: { readonly from: FlagSet; readonly changed: string },
): FlagSet {
  const doc = typeof input === 'string' ? parseJson(input) : input;
  if (!isObject(doc)) {
    throw new FlagSetError(
      '(document)',
      doc,
      'a flag set is a JSON object',
      `write {"flags": {"my-flag": ${EXAMPLE_FLAG}}}`,
    );
  }
  const refusals: FlagSetError[] = [];
  const warnings: FlagSetError[] = [];
  const refuse: Report = (e) => refusals.push(e);
  const warn: Report = (e) => warnings.push(e);
  checkKnownFields(doc, '', SET_FIELDS, warn);
  if (doc.$schema !== undefined && typeof doc.$schema !== 'string') {
    warn(new FlagSetError('$schema', doc.$schema, '$schema is a URL string', `write "${FLAGD_SCHEMA_URL}"`));
  }
  if (doc.metadata !== undefined) checkMetadata(doc.metadata, 'metadata', warn);
  const evaluators = checkEvaluators(doc.$evaluators, warn);
  if (!isObject(doc.flags)) {
    throw new FlagSetError(
      'flags',
      doc.flags,
      'a flag set needs a "flags" object',
      `write "flags": {"my-flag": ${EXAMPLE_FLAG}}`,
    );
  }
  for (const [key, flag] of Object.entries(doc.flags)) checkFlag(key, flag, evaluators, refuse, warn);
  if (refusals.length > 0) throw FlagSetError.all(refusals);

  const copy = toJson(doc, '(document)') as Record<string, unknown>;
  const keys = Object.keys(doc.flags);
  let found: FlagSetWarning[];
  if (edited) {
    const { flags, ...rest } = copy as { flags: Record<string, unknown> };
    const alone = { ...rest, flags: { [edited.changed]: flags[edited.changed] } };
    const unchanged = (w: FlagSetWarning) => w.flag !== undefined && w.flag !== edited.changed;
    found = [
      ...toWarnings(warnings, flagdProblems(alone), keys).filter((w) => !unchanged(w)),
      ...warningsOf(edited.from).filter(unchanged),
    ];
  } else found = toWarnings(warnings, flagdProblems(copy), keys);
  const set = deepFreeze(copy) as unknown as FlagSet;
  WARNINGS.set(set, found);
  return set;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new FlagSetError(
      '(document)',
      text,
      `not valid JSON: ${reason}`,
      'fix the JSON syntax at that position',
    );
  }
}

function checkKnownFields(
  obj: Record<string, unknown>,
  path: string,
  allowed: readonly string[],
  warn: Report,
): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      warn(
        new FlagSetError(
          at(path, key),
          obj[key],
          `unknown field "${key}"; flagd ignores it`,
          `remove it or fix its name; the fields are ${allowed.join(', ')}`,
        ),
      );
    }
  }
}

function checkMetadata(value: unknown, path: string, warn: Report): void {
  if (!isObject(value)) {
    warn(
      new FlagSetError(path, value, 'metadata is an object', 'write for example {"owner": "team-checkout"}'),
    );
    return;
  }
  for (const [key, v] of Object.entries(value)) {
    if (!['string', 'number', 'boolean'].includes(typeof v)) {
      warn(
        new FlagSetError(
          at(path, key),
          v,
          'metadata values are strings, numbers or booleans; OpenFeature clients drop any other',
          'flatten it to a string',
        ),
      );
    }
  }
}

function checkEvaluators(value: unknown, warn: Report): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isObject(value)) {
    warn(
      new FlagSetError(
        '$evaluators',
        value,
        '$evaluators maps names to JsonLogic rules; flagd uses none of it',
        'write {"beta-users": {"in": [{"var": "email"}, ["a@x.io"]]}}',
      ),
    );
    return {};
  }
  for (const [name, rule] of Object.entries(value)) {
    if (!isObject(rule)) {
      warn(
        new FlagSetError(
          at('$evaluators', name),
          rule,
          'an evaluator is a JsonLogic rule object',
          'write for example {"==": [{"var": "plan"}, "pro"]}',
        ),
      );
    } else checkRule(rule, at('$evaluators', name), value, warn);
  }
  return value;
}

function checkFlag(
  key: string,
  flag: unknown,
  evaluators: Record<string, unknown>,
  refuse: Report,
  warn: Report,
): void {
  const path = at('flags', key);
  if (!FLAG_KEY_PATTERN.test(key)) {
    // Rewind's own rule, beyond flagd's: OFREP clients put the key in a URL path unencoded.
    refuse(
      new FlagSetError(
        path,
        key,
        'invalid flag key',
        'use 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit',
      ),
    );
    return;
  }
  if (!isObject(flag)) {
    refuse(new FlagSetError(path, flag, `flag "${key}" is not an object`, `write ${EXAMPLE_FLAG}`));
    return;
  }
  checkKnownFields(flag, path, FLAG_FIELDS, warn);
  if (flag.state !== 'ENABLED' && flag.state !== 'DISABLED') {
    refuse(
      new FlagSetError(
        at(path, 'state'),
        flag.state,
        `flag "${key}": state is ENABLED or DISABLED (flagd refuses the set)`,
        'write "ENABLED" or "DISABLED"',
      ),
    );
  }
  if (!isObject(flag.variants)) {
    refuse(
      new FlagSetError(
        at(path, 'variants'),
        flag.variants,
        `flag "${key}": variants maps names to values (flagd refuses the set)`,
        'write {"on": true, "off": false}',
      ),
    );
    return;
  }
  const variantNames = checkVariants(flag.variants, at(path, 'variants'), warn);
  const defaultVariant = flag.defaultVariant;
  // flagd-core reads a falsy defaultVariant as none: the code default is served.
  if (defaultVariant && (typeof defaultVariant !== 'string' || !variantNames.includes(defaultVariant))) {
    refuse(
      new FlagSetError(
        at(path, 'defaultVariant'),
        defaultVariant,
        `defaultVariant is not one of the variants of "${key}" (flagd refuses the set)`,
        `use one of ${variantNames.join(', ')}${typeof defaultVariant === 'string' ? ` or add a variant named "${defaultVariant}"` : ''}, or null to serve the code default`,
      ),
    );
  }
  if (flag.targeting !== undefined) {
    const where = at(path, 'targeting');
    if (!isObject(flag.targeting)) {
      warn(
        new FlagSetError(
          where,
          flag.targeting,
          `targeting is a JsonLogic rule object; flagd ${flag.targeting === null ? 'reads null as no targeting' : 'evaluates this literal as the variant name'}`,
          'write {} for none, or for example {"if": [{"==": [{"var": "plan"}, "pro"]}, "on", "off"]}',
        ),
      );
    } else {
      checkRule(flag.targeting, where, evaluators, warn);
      checkResults(flag.targeting, where, variantNames, warn);
    }
  }
  if (flag.metadata !== undefined) checkMetadata(flag.metadata, at(path, 'metadata'), warn);
}

const article = (kind: string) => (kind === 'object' ? `an ${kind}` : `a ${kind}`);

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** Returns the variant names; warns unless all values share one type (objects all objects). */
function checkVariants(variants: Record<string, unknown>, path: string, warn: Report): string[] {
  if (Object.keys(variants).length === 0) {
    warn(
      new FlagSetError(
        path,
        variants,
        'variants needs at least one; every evaluation serves the code default',
        'write {"on": true, "off": false}',
      ),
    );
  }
  let first: [string, string] | undefined;
  for (const [name, value] of Object.entries(variants)) {
    const where = at(path, name);
    if (name === '')
      warn(new FlagSetError(where, name, 'a variant name is empty', 'give it a name such as "on"'));
    const kind = kindOf(value);
    if (!['boolean', 'string', 'number', 'object'].includes(kind)) {
      warn(
        new FlagSetError(
          where,
          value,
          `a variant is a boolean, string, number or object, not ${kind}; OpenFeature clients answer TYPE_MISMATCH`,
          'wrap a list in an object, e.g. {"items": [...]}',
        ),
      );
      continue;
    }
    if (first === undefined) first = [name, kind];
    else if (first[1] !== kind) {
      warn(
        new FlagSetError(
          where,
          value,
          `variant "${name}" is ${article(kind)} but variant "${first[0]}" is ${article(first[1])}; an application asking for one type gets TYPE_MISMATCH for the other`,
          `make every variant ${article(first[1])}`,
        ),
      );
    }
  }
  return Object.keys(variants);
}

/** A JSON-only deep copy; throws if the value holds something JSON cannot carry. */
function toJson(value: unknown, path: string): unknown {
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (
      typeof v === 'function' ||
      typeof v === 'symbol' ||
      typeof v === 'bigint' ||
      (typeof v === 'number' && !Number.isFinite(v))
    ) {
      throw new FlagSetError(
        path,
        String(v),
        `holds a ${typeof v}, which JSON cannot carry`,
        'use only JSON values',
      );
    }
    return v;
  });
  return JSON.parse(text);
}

/**
 * flagd-core is the final judge: it must load the set as flagd loads it (leniently), or the set is
 * refused. Returns what it objects to without refusing: the errors of flagd's JSON schema, distilled
 * to one per problem, and the rules it cannot compile (which evaluate to PARSE_ERROR).
 */
function flagdProblems(doc: Record<string, unknown>): FlagSetError[] {
  const text = JSON.stringify(doc);
  const uncompiled: string[] = [];
  const logger: Logger = {
    error() {},
    info() {},
    debug() {},
    warn(message: unknown) {
      const flag = /^Invalid targeting configuration for flag '(.*)'$/.exec(String(message))?.[1];
      if (flag !== undefined) uncompiled.push(flag);
    },
  };
  try {
    loadFlagdStorage(text, false, logger);
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    throw new FlagSetError(
      '(document)',
      undefined,
      `flagd-core refuses to load the set${cause}`,
      `compare it with ${FLAGD_SCHEMA_URL}`,
    );
  }
  const problems = uncompiled.map(
    (flag) =>
      new FlagSetError(
        at(at('flags', flag), 'targeting'),
        undefined,
        'flagd-core cannot compile this rule; the flag evaluates to PARSE_ERROR',
        'fix the rule',
      ),
  );
  const schemaErrors = (document: Record<string, unknown>): FlagSetError[] => {
    try {
      loadFlagdStorage(JSON.stringify(document), true);
      return [];
    } catch (err) {
      return distillSchemaErrors(err instanceof Error ? err.message : String(err), doc);
    }
  };
  const whole = schemaErrors(doc);
  if (whole.length === 0) return problems;
  // flagd-core's validator stops at the first flag that fails: check each flag alone to see them all.
  const { flags, ...rest } = doc as { flags: Record<string, unknown> };
  const seen = new Set<string>();
  for (const e of [
    ...whole,
    ...Object.entries(flags).flatMap(([key, flag]) => schemaErrors({ ...rest, flags: { [key]: flag } })),
  ]) {
    if (!seen.has(e.message)) problems.push(e);
    seen.add(e.message);
  }
  return problems;
}

/**
 * One warning per problem: Rewind's own findings, then what flagd-core found that none of them
 * covers (a flagd problem at, inside or around the node of another is that problem seen again).
 */
function toWarnings(
  own: readonly FlagSetError[],
  flagd: readonly FlagSetError[],
  flagKeys: readonly string[],
): FlagSetWarning[] {
  const kept = [...own];
  const overlaps = (a: string, b: string) =>
    a === b ||
    a.startsWith(`${b}.`) ||
    a.startsWith(`${b}[`) ||
    b.startsWith(`${a}.`) ||
    b.startsWith(`${a}[`);
  for (const p of flagd) if (!kept.some((k) => overlaps(k.path, p.path))) kept.push(p);
  return kept.map((p) => {
    const prefix = (key: string) => at('flags', key);
    const flag = flagKeys.find((key) => p.path === prefix(key) || p.path.startsWith(`${prefix(key)}.`));
    if (flag === undefined) return { path: p.path, message: p.message };
    const rest = p.message.slice(prefix(flag).length);
    return {
      flag,
      path: p.path,
      message: `flag \`${flag}\`${rest.startsWith('.') ? ` ${rest.slice(1)}` : rest}`,
    };
  });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Canonical JSON: same value, same text, whatever the key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    isObject(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, v[k]]),
        )
      : v,
  );
}

/**
 * What changed from `a` to `b`, one entry per flag, sorted by key. Targeting is compared with its
 * `$ref`s expanded, so editing a shared evaluator shows up on every flag that uses it.
 */
export function diffFlagSets(a: FlagSet, b: FlagSet): FlagChange[] {
  const keys = [...new Set([...Object.keys(a.flags), ...Object.keys(b.flags)])].sort();
  const changes: FlagChange[] = [];
  for (const flag of keys) {
    const before = Object.hasOwn(a.flags, flag) ? a.flags[flag] : undefined;
    const after = Object.hasOwn(b.flags, flag) ? b.flags[flag] : undefined;
    const defined = (def: FlagDefinition) => FLAG_FIELDS.filter((f) => def[f] !== undefined);
    if (before === undefined && after !== undefined) {
      changes.push({ flag, change: 'added', fields: defined(after), after });
    } else if (before !== undefined && after === undefined) {
      changes.push({ flag, change: 'removed', fields: defined(before), before });
    } else if (before !== undefined && after !== undefined) {
      const fields = FLAG_FIELDS.filter((f) => {
        const x = f === 'targeting' ? expandRefs(before.targeting, a.$evaluators) : before[f];
        const y = f === 'targeting' ? expandRefs(after.targeting, b.$evaluators) : after[f];
        return canonicalJson(x) !== canonicalJson(y);
      });
      if (fields.length > 0) changes.push({ flag, change: 'changed', fields, before, after });
    }
  }
  return changes;
}

function expandRefs(rule: unknown, evaluators: FlagSet['$evaluators'], depth = 0): unknown {
  if (depth > 64) return rule;
  if (Array.isArray(rule)) return rule.map((r) => expandRefs(r, evaluators, depth + 1));
  if (!isObject(rule)) return rule;
  const ref = rule.$ref;
  if (
    typeof ref === 'string' &&
    Object.keys(rule).length === 1 &&
    evaluators &&
    Object.hasOwn(evaluators, ref)
  ) {
    return expandRefs(evaluators[ref], evaluators, depth + 1);
  }
  return Object.fromEntries(Object.entries(rule).map(([k, v]) => [k, expandRefs(v, evaluators, depth + 1)]));
}

/** A copy of `set` with flag `key` switched on or off; the kill switch. */
export function setFlagState(set: FlagSet, key: string, state: FlagState): FlagSet {
  const flag = Object.hasOwn(set.flags, key) ? set.flags[key] : undefined;
  if (flag === undefined) {
    const known = Object.keys(set.flags);
    throw new FlagSetError(
      at('flags', key),
      key,
      `there is no flag "${key}"`,
      known.length ? `use one of ${known.join(', ')}` : 'add the flag first',
    );
  }
  return withFlag(set, key, { ...flag, state });
}

/** A copy of `set` with flag `key` added or replaced by `definition`, validated like any other set. */
export function withFlag(set: FlagSet, key: string, definition: unknown): FlagSet {
  const entries: [string, unknown][] = Object.entries(set.flags).map(([k, v]) => [
    k,
    k === key ? definition : v,
  ]);
  if (!Object.hasOwn(set.flags, key)) entries.push([key, definition]);
  const flags = Object.fromEntries(entries);
  return parseFlagSet({ ...set, flags }, { from: set, changed: key });
}
