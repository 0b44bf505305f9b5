// The flag-set document: flagd's flag definition format, so a set that Rewind accepts loads in flagd
// and the other way round. parseFlagSet is the only way to make one; it either returns a frozen,
// validated copy or throws a FlagSetError naming the flag, the field and the fix.

import { at, FlagSetError } from './flag-set-error.ts';
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
  /** Served when targeting is absent or returns null. Always a key of `variants`. */
  readonly defaultVariant: string;
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
const REQUIRED_FLAG_FIELDS: readonly FlagField[] = ['state', 'variants', 'defaultVariant'];
const EXAMPLE_FLAG = '{"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}';

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and validates a flag set given as JSON text or as an already-parsed value. */
export function parseFlagSet(input: unknown): FlagSet {
  const doc = typeof input === 'string' ? parseJson(input) : input;
  if (!isObject(doc)) {
    throw new FlagSetError(
      '(document)',
      doc,
      'a flag set is a JSON object',
      `write {"flags": {"my-flag": ${EXAMPLE_FLAG}}}`,
    );
  }
  checkKnownFields(doc, '', SET_FIELDS);
  if (doc.$schema !== undefined && typeof doc.$schema !== 'string') {
    throw new FlagSetError('$schema', doc.$schema, '$schema is a URL string', `write "${FLAGD_SCHEMA_URL}"`);
  }
  if (doc.metadata !== undefined) checkMetadata(doc.metadata, 'metadata');
  const evaluators = checkEvaluators(doc.$evaluators);
  if (!isObject(doc.flags)) {
    throw new FlagSetError(
      'flags',
      doc.flags,
      'a flag set needs a "flags" object',
      `write "flags": {"my-flag": ${EXAMPLE_FLAG}}`,
    );
  }
  for (const [key, flag] of Object.entries(doc.flags)) checkFlag(key, flag, evaluators);

  const copy = toJson(doc, '(document)') as Record<string, unknown>;
  proveFlagdLoads(copy);
  return deepFreeze(copy) as unknown as FlagSet;
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

function checkKnownFields(obj: Record<string, unknown>, path: string, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw new FlagSetError(
        at(path, key),
        obj[key],
        `unknown field "${key}"`,
        `remove it; allowed fields are ${allowed.join(', ')}`,
      );
    }
  }
}

function checkMetadata(value: unknown, path: string): void {
  if (!isObject(value)) {
    throw new FlagSetError(
      path,
      value,
      'metadata is an object',
      'write for example {"owner": "team-checkout"}',
    );
  }
  for (const [key, v] of Object.entries(value)) {
    if (
      !['string', 'number', 'boolean'].includes(typeof v) ||
      (typeof v === 'number' && !Number.isFinite(v))
    ) {
      throw new FlagSetError(
        at(path, key),
        v,
        'metadata values are strings, numbers or booleans',
        'flatten it to a string',
      );
    }
  }
}

function checkEvaluators(value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isObject(value)) {
    throw new FlagSetError(
      '$evaluators',
      value,
      '$evaluators maps names to JsonLogic rules',
      'write {"beta-users": {"in": [{"var": "email"}, ["a@x.io"]]}}',
    );
  }
  for (const [name, rule] of Object.entries(value)) {
    if (!isObject(rule)) {
      throw new FlagSetError(
        at('$evaluators', name),
        rule,
        'an evaluator is a JsonLogic rule object',
        'write for example {"==": [{"var": "plan"}, "pro"]}',
      );
    }
    checkRule(rule, at('$evaluators', name), value);
  }
  return value;
}

function checkFlag(key: string, flag: unknown, evaluators: Record<string, unknown>): void {
  const path = at('flags', key);
  if (!FLAG_KEY_PATTERN.test(key)) {
    throw new FlagSetError(
      path,
      key,
      'invalid flag key',
      'use 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit',
    );
  }
  if (!isObject(flag)) {
    throw new FlagSetError(path, flag, `flag "${key}" is not an object`, `write ${EXAMPLE_FLAG}`);
  }
  checkKnownFields(flag, path, FLAG_FIELDS);
  for (const field of REQUIRED_FLAG_FIELDS) {
    if (flag[field] === undefined) {
      throw new FlagSetError(
        at(path, field),
        undefined,
        `flag "${key}" has no ${field}`,
        `add it, as in ${EXAMPLE_FLAG}`,
      );
    }
  }
  if (flag.state !== 'ENABLED' && flag.state !== 'DISABLED') {
    throw new FlagSetError(
      at(path, 'state'),
      flag.state,
      'state is ENABLED or DISABLED',
      'write "ENABLED" or "DISABLED"',
    );
  }
  const variantNames = checkVariants(flag.variants, at(path, 'variants'));
  if (typeof flag.defaultVariant !== 'string' || !variantNames.includes(flag.defaultVariant)) {
    throw new FlagSetError(
      at(path, 'defaultVariant'),
      flag.defaultVariant,
      `defaultVariant is not one of the variants of "${key}"`,
      `use one of ${variantNames.join(', ')}${typeof flag.defaultVariant === 'string' ? ` or add a variant named "${flag.defaultVariant}"` : ''}`,
    );
  }
  if (flag.targeting !== undefined) {
    const where = at(path, 'targeting');
    if (!isObject(flag.targeting)) {
      throw new FlagSetError(
        where,
        flag.targeting,
        'targeting is a JsonLogic rule object',
        'write {} for none, or for example {"if": [{"==": [{"var": "plan"}, "pro"]}, "on", "off"]}',
      );
    }
    checkRule(flag.targeting, where, evaluators);
    checkResults(flag.targeting, where, variantNames);
  }
  if (flag.metadata !== undefined) checkMetadata(flag.metadata, at(path, 'metadata'));
}

const article = (kind: string) => (kind === 'object' ? `an ${kind}` : `a ${kind}`);

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** Returns the variant names; all values must share one type (object variants are all objects). */
function checkVariants(variants: unknown, path: string): string[] {
  if (!isObject(variants) || Object.keys(variants).length === 0) {
    throw new FlagSetError(
      path,
      variants,
      'variants maps names to values and needs at least one',
      'write {"on": true, "off": false}',
    );
  }
  let first: [string, string] | undefined;
  for (const [name, value] of Object.entries(variants)) {
    const where = at(path, name);
    if (name === '')
      throw new FlagSetError(where, name, 'a variant name is empty', 'give it a name such as "on"');
    const kind = kindOf(value);
    if (
      !['boolean', 'string', 'number', 'object'].includes(kind) ||
      (kind === 'number' && !Number.isFinite(value))
    ) {
      throw new FlagSetError(
        where,
        value,
        `a variant is a boolean, string, number or object, not ${kind}`,
        'wrap a list in an object, e.g. {"items": [...]}',
      );
    }
    if (kind === 'object') toJson(value, where);
    if (first === undefined) first = [name, kind];
    else if (first[1] !== kind) {
      throw new FlagSetError(
        where,
        value,
        `variant "${name}" is ${article(kind)} but variant "${first[0]}" is ${article(first[1])}`,
        `make every variant ${article(first[1])}`,
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

/** flagd-core with schema validation is the final judge; translate what it says into a field path. */
function proveFlagdLoads(doc: Record<string, unknown>): void {
  try {
    loadFlagdStorage(JSON.stringify(doc));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const schemaErrors = message.match(/\[[\s\S]*\]$/);
    let path = '(document)';
    let problem = message;
    if (schemaErrors) {
      try {
        const [first] = JSON.parse(schemaErrors[0]) as { instancePath?: string; message?: string }[];
        path = (first?.instancePath ?? '').split('/').filter(Boolean).join('.') || path;
        problem = `flagd's schema says: ${first?.message ?? 'invalid'}`;
      } catch {
        // keep the whole message
      }
    }
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    throw new FlagSetError(path, undefined, `${problem}${cause}`, `compare it with ${FLAGD_SCHEMA_URL}`);
  }
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
  return parseFlagSet({ ...set, flags });
}
