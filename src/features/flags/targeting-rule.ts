// flagd targeting is JsonLogic with four extra operators. These checks run before flagd-core sees a
// rule so that a typo is reported as "flags.x.targeting.if[0]: unknown operator" instead of a page of
// schema errors, and so that mistakes flagd would only reveal at evaluation time (a bucket naming a
// variant that does not exist, sem_ver with two arguments) are refused when the set is saved.

import { at, FlagSetError } from './flag-set-error.ts';

/** The operators flagd's targeting schema accepts; flagd-core's engine implements all of them. */
export const FLAGD_OPERATORS: readonly string[] = [
  'var',
  'missing',
  'missing_some',
  'if',
  '==',
  '===',
  '!=',
  '!==',
  '!',
  '!!',
  'or',
  'and',
  '>',
  '>=',
  '<',
  '<=',
  'max',
  'min',
  '+',
  '-',
  '*',
  '/',
  '%',
  'map',
  'reduce',
  'filter',
  'all',
  'none',
  'some',
  'merge',
  'in',
  'cat',
  'substr',
  'fractional',
  'sem_ver',
  'starts_with',
  'ends_with',
];

const SEM_VER_OPERATORS = ['=', '!=', '<', '<=', '>', '>=', '^', '~'];
const MAX_DEPTH = 64;

type Evaluators = Readonly<Record<string, unknown>>;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The single operator of a JsonLogic node, or undefined for a literal or an empty object. */
function operatorOf(node: unknown): string | undefined {
  if (!isObject(node)) return undefined;
  const keys = Object.keys(node);
  return keys.length === 1 ? keys[0] : undefined;
}

function suggest(op: string): string {
  const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9=<>!%*/+-]/g, '');
  const close = FLAGD_OPERATORS.find((known) => norm(known) === norm(op));
  return close ? `write "${close}"` : `use one of ${FLAGD_OPERATORS.join(' ')}`;
}

/**
 * Throws FlagSetError at the first node of `rule` that flagd would not accept: an unknown operator,
 * an object with several operators, a `$ref` to a missing evaluator, or a malformed flagd operator.
 */
export function checkRule(rule: unknown, path: string, evaluators: Evaluators, depth = 0): void {
  if (depth > MAX_DEPTH) {
    throw new FlagSetError(
      path,
      '...',
      `targeting nests deeper than ${MAX_DEPTH} levels`,
      'flatten the rule',
    );
  }
  if (Array.isArray(rule)) {
    for (const [i, item] of rule.entries()) checkRule(item, at(path, i), evaluators, depth + 1);
    return;
  }
  if (!isObject(rule)) return;
  const keys = Object.keys(rule);
  if (keys.length === 0) return;
  if (keys.length > 1) {
    throw new FlagSetError(
      path,
      keys,
      'a JsonLogic rule holds exactly one operator',
      `split it, e.g. {"and": [{"${keys[0]}": ...}, {"${keys[1]}": ...}]}`,
    );
  }
  const op = keys[0] as string;
  const args = rule[op];
  const here = at(path, op);
  if (op === '$ref') {
    if (typeof args !== 'string' || !Object.hasOwn(evaluators, args)) {
      const known = Object.keys(evaluators);
      throw new FlagSetError(
        here,
        args,
        'refers to an evaluator that $evaluators does not define',
        known.length ? `use one of ${known.join(', ')}` : 'define it under "$evaluators" at the top level',
      );
    }
    return;
  }
  if (!FLAGD_OPERATORS.includes(op)) {
    throw new FlagSetError(path, op, `unknown operator "${op}"`, suggest(op));
  }
  if (op === 'fractional') checkFractional(args, here);
  if (op === 'sem_ver') checkSemVer(args, here);
  if (op === 'starts_with' || op === 'ends_with')
    checkArity(args, here, op, 2, '[{"var": "email"}, "admin@"]');
  checkRule(args, here, evaluators, depth + 1);
}

function checkArity(args: unknown, path: string, op: string, n: number, example: string): void {
  if (!Array.isArray(args) || args.length !== n) {
    throw new FlagSetError(path, args, `${op} takes ${n} arguments`, `write {"${op}": ${example}}`);
  }
}

function checkSemVer(args: unknown, path: string): void {
  checkArity(args, path, 'sem_ver', 3, '[{"var": "version"}, ">=", "1.2.0"]');
  const operator = (args as unknown[])[1];
  if (typeof operator === 'string' && !SEM_VER_OPERATORS.includes(operator)) {
    throw new FlagSetError(
      at(path, 1),
      operator,
      'is not a sem_ver comparison',
      `use one of ${SEM_VER_OPERATORS.join(' ')}`,
    );
  }
}

function checkFractional(args: unknown, path: string): void {
  const example = '[["on", 10], ["off", 90]]';
  if (!Array.isArray(args) || args.length === 0) {
    throw new FlagSetError(
      path,
      args,
      'fractional needs a list of buckets',
      `write {"fractional": ${example}}`,
    );
  }
  const first = bucketsStart(args);
  if (first >= args.length) {
    throw new FlagSetError(
      path,
      args,
      'fractional has a bucketing value but no buckets',
      `add buckets like ${example}`,
    );
  }
  for (let i = first; i < args.length; i++) {
    const bucket = args[i];
    const where = at(path, i);
    if (!Array.isArray(bucket) || bucket.length < 1 || bucket.length > 2) {
      throw new FlagSetError(where, bucket, 'a bucket is [variant, weight]', 'write for example ["on", 10]');
    }
    const weight = bucket[1];
    if (
      bucket.length === 2 &&
      !isObject(weight) &&
      !(typeof weight === 'number' && Number.isInteger(weight))
    ) {
      throw new FlagSetError(
        at(where, 1),
        weight,
        'a bucket weight is a whole number',
        'write for example 25',
      );
    }
  }
}

/** Index of the first bucket: a leading string or expression is the value to bucket by. */
function bucketsStart(args: readonly unknown[]): number {
  return Array.isArray(args[0]) ? 0 : 1;
}

/**
 * Throws FlagSetError when a rule can return a literal that names no variant: flagd turns the result
 * into a variant name with toString(), so `"of"` or `true` must match a key of `variants`.
 */
export function checkResults(rule: unknown, path: string, variants: readonly string[]): void {
  const op = operatorOf(rule);
  if (op === undefined) return;
  const args = (rule as Record<string, unknown>)[op];
  if (!Array.isArray(args)) return;
  const here = at(path, op);
  const visit = (value: unknown, where: string) => {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      if (!variants.includes(String(value))) {
        throw new FlagSetError(
          where,
          value,
          'the rule returns a variant that the flag does not have',
          `return one of ${variants.join(', ')} or add a variant named "${String(value)}"`,
        );
      }
    } else {
      checkResults(value, where, variants);
    }
  };
  if (op === 'if') {
    args.forEach((arg, i) => {
      const isResult = i % 2 === 1 || (i === args.length - 1 && args.length % 2 === 1 && i > 0);
      if (isResult) visit(arg, at(here, i));
    });
  }
  if (op === 'fractional') {
    for (let i = bucketsStart(args); i < args.length; i++) {
      const bucket = args[i];
      if (Array.isArray(bucket)) visit(bucket[0], at(at(here, i), 0));
    }
  }
}

/**
 * True when the rule has a fractional split that buckets by the context's targetingKey (no explicit
 * bucketing value first). flagd then needs a targetingKey; without one it serves the default variant.
 */
export function bucketsByTargetingKey(rule: unknown, evaluators: Evaluators, depth = 0): boolean {
  if (depth > MAX_DEPTH) return false;
  if (Array.isArray(rule)) return rule.some((item) => bucketsByTargetingKey(item, evaluators, depth + 1));
  const op = operatorOf(rule);
  if (op === undefined) return false;
  const args = (rule as Record<string, unknown>)[op];
  if (op === '$ref') {
    return typeof args === 'string' && bucketsByTargetingKey(evaluators[args], evaluators, depth + 1);
  }
  if (op === 'fractional' && Array.isArray(args) && bucketsStart(args) === 0) return true;
  return bucketsByTargetingKey(args, evaluators, depth + 1);
}
