// flagd targeting is JsonLogic with four extra operators. flagd loads a flag whatever its rule holds
// and finds out at evaluation time (PARSE_ERROR, GENERAL, or null and the default variant), so these
// checks report warnings, not refusals: each names the node ("flags.x.targeting.if[0]: unknown
// operator") instead of a page of schema errors, and says what flagd will do with it.

import { at, FlagSetError, type Report } from './flag-set-error.ts';

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
/** flagd's schema for a sem_ver literal: MAJOR.MINOR.PATCH with optional pre-release and build. */
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;
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
 * Reports every node of `rule` that flagd's schema or engine does not accept: an unknown operator,
 * an object with several operators, a `$ref` to a missing evaluator, a malformed flagd operator.
 */
export function checkRule(
  rule: unknown,
  path: string,
  evaluators: Evaluators,
  report: Report,
  depth = 0,
): void {
  if (depth > MAX_DEPTH) {
    report(
      new FlagSetError(path, '...', `targeting nests deeper than ${MAX_DEPTH} levels`, 'flatten the rule'),
    );
    return;
  }
  if (Array.isArray(rule)) {
    for (const [i, item] of rule.entries()) checkRule(item, at(path, i), evaluators, report, depth + 1);
    return;
  }
  if (!isObject(rule)) return;
  const keys = Object.keys(rule);
  if (keys.length === 0) return;
  if (keys.length > 1) {
    report(
      new FlagSetError(
        path,
        keys,
        'a JsonLogic rule holds exactly one operator; flagd-core cannot compile it, so the flag evaluates to PARSE_ERROR',
        `split it, e.g. {"and": [{"${keys[0]}": ...}, {"${keys[1]}": ...}]}`,
      ),
    );
    return;
  }
  const op = keys[0] as string;
  const args = rule[op];
  const here = at(path, op);
  if (op === '$ref') {
    if (typeof args !== 'string' || !Object.hasOwn(evaluators, args)) {
      const known = Object.keys(evaluators);
      report(
        new FlagSetError(
          here,
          args,
          'refers to an evaluator that $evaluators does not define; flagd evaluates the flag to PARSE_ERROR',
          known.length ? `use one of ${known.join(', ')}` : 'define it under "$evaluators" at the top level',
        ),
      );
    }
    return;
  }
  if (!FLAGD_OPERATORS.includes(op)) {
    report(
      new FlagSetError(
        path,
        op,
        `unknown operator "${op}"; flagd evaluates the flag to PARSE_ERROR`,
        suggest(op),
      ),
    );
    return;
  }
  if (op === 'fractional') checkFractional(args, here, report);
  if (op === 'sem_ver') checkSemVer(args, here, report);
  if (op === 'starts_with' || op === 'ends_with')
    checkArity(args, here, op, 2, '[{"var": "email"}, "admin@"]', report);
  checkRule(args, here, evaluators, report, depth + 1);
}

const NULL_RESULT = 'flagd evaluates it to null, so the flag serves its default variant';

function checkArity(
  args: unknown,
  path: string,
  op: string,
  n: number,
  example: string,
  report: Report,
): boolean {
  if (Array.isArray(args) && args.length === n) return true;
  report(
    new FlagSetError(path, args, `${op} takes ${n} arguments; ${NULL_RESULT}`, `write {"${op}": ${example}}`),
  );
  return false;
}

function checkSemVer(args: unknown, path: string, report: Report): void {
  if (!checkArity(args, path, 'sem_ver', 3, '[{"var": "version"}, ">=", "1.2.0"]', report)) return;
  const [left, operator, right] = args as unknown[];
  if (typeof operator === 'string' && !SEM_VER_OPERATORS.includes(operator)) {
    report(
      new FlagSetError(
        at(path, 1),
        operator,
        `is not a sem_ver comparison; ${NULL_RESULT}`,
        `use one of ${SEM_VER_OPERATORS.join(' ')}`,
      ),
    );
  }
  for (const [i, literal] of [
    [0, left],
    [2, right],
  ] as const) {
    if (typeof literal === 'string' && !SEMVER.test(literal)) {
      report(
        new FlagSetError(
          at(path, i),
          literal,
          `"${literal}" is not a semantic version (MAJOR.MINOR.PATCH) as flagd's schema requires of a rule literal; flagd-core coerces it (a leading "v" dropped, missing parts as 0), other flagd engines may not`,
          `write "${fullVersion(literal)}"`,
        ),
      );
    }
  }
}

/** "v1.1" -> "1.1.0": the full version a partial or v-prefixed literal stands for. */
function fullVersion(literal: string): string {
  const parts = literal.replace(/^[vV]/, '').split('.').slice(0, 3);
  while (parts.length < 3) parts.push('0');
  return parts.join('.');
}

function checkFractional(args: unknown, path: string, report: Report): void {
  const example = '[["on", 10], ["off", 90]]';
  if (!Array.isArray(args) || args.length === 0) {
    report(
      new FlagSetError(
        path,
        args,
        `fractional needs a list of buckets; ${NULL_RESULT}`,
        `write {"fractional": ${example}}`,
      ),
    );
    return;
  }
  const first = bucketsStart(args);
  if (first >= args.length) {
    report(
      new FlagSetError(
        path,
        args,
        `fractional has a bucketing value but no buckets; ${NULL_RESULT}`,
        `add buckets like ${example}`,
      ),
    );
    return;
  }
  if (first === 1 && args[0] === null) {
    report(
      new FlagSetError(
        at(path, 0),
        args[0],
        'the bucketing value is a string or a rule such as {"var": "email"}; flagd\'s schema refuses null',
        'write {"var": "email"}, or leave it out to bucket by targetingKey',
      ),
    );
  }
  for (let i = first; i < args.length; i++) {
    const bucket = args[i];
    const where = at(path, i);
    if (!Array.isArray(bucket) || bucket.length < 1 || bucket.length > 2) {
      report(
        new FlagSetError(
          where,
          bucket,
          `a bucket is [variant, weight]; ${NULL_RESULT}`,
          'write for example ["on", 10]',
        ),
      );
      continue;
    }
    const weight = bucket[1];
    if (
      bucket.length === 2 &&
      !isObject(weight) &&
      !(typeof weight === 'number' && Number.isInteger(weight))
    ) {
      report(
        new FlagSetError(
          at(where, 1),
          weight,
          `a bucket weight is a whole number; ${NULL_RESULT}`,
          'write for example 25',
        ),
      );
    } else if (typeof weight === 'number' && weight < 0) {
      report(
        new FlagSetError(
          at(where, 1),
          weight,
          "a bucket weight is >= 0 by flagd's schema; flagd-core counts a negative weight as 0",
          'write 0, or the share this bucket should get',
        ),
      );
    }
  }
}

/** Index of the first bucket: a leading string or expression is the value to bucket by. */
function bucketsStart(args: readonly unknown[]): number {
  return Array.isArray(args[0]) ? 0 : 1;
}

/**
 * Reports every literal a rule can return that names no variant: flagd turns the result into a
 * variant name with toString(), so `"of"` or `true` must match a key of `variants`.
 */
export function checkResults(rule: unknown, path: string, variants: readonly string[], report: Report): void {
  const op = operatorOf(rule);
  if (op === undefined) return;
  const args = (rule as Record<string, unknown>)[op];
  if (!Array.isArray(args)) return;
  const here = at(path, op);
  const visit = (value: unknown, where: string) => {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      if (!variants.includes(String(value))) {
        report(
          new FlagSetError(
            where,
            value,
            'the rule returns a variant that the flag does not have; flagd answers GENERAL (variant not found) when it does',
            `return one of ${variants.join(', ')} or add a variant named "${String(value)}"`,
          ),
        );
      }
    } else {
      checkResults(value, where, variants, report);
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
