// flagd's JSON schema, as flagd-core runs it (ajv, allErrors), answers one bad literal with 100+
// errors: every branch of every oneOf/anyOf it tried on the way down says why it did not match
// ("must NOT have additional properties" from the branch for another operator, "must be object" from
// the branch for a rule). The real problem is the deepest one. This keeps, per failing branch, the
// errors at the deepest JSON path, drops the summaries (oneOf, anyOf) and the type errors of the
// branches that were never meant to match, and names the path and the value found there.

import { at, FlagSetError } from './flag-set-error.ts';

interface AjvError {
  readonly instancePath: string;
  readonly keyword: string;
  readonly message?: string;
  readonly params?: Record<string, unknown>;
}

const SUMMARIES = new Set(['oneOf', 'anyOf', 'if', 'not']);

/** JSON pointer `/flags/x/targeting/if/0` -> `flags.x.targeting.if[0]`. */
function toPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((path, segment) => (/^\d+$/.test(segment) ? at(path, Number(segment)) : at(path, segment)), '');
}

function valueAt(doc: unknown, pointer: string): unknown {
  let node = doc;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
  }
  return node;
}

const isPrefix = (a: string, b: string) => b.startsWith(`${a}/`);

/** Parses the ajv errors out of flagd-core's ParseError message and distills them. */
export function distillSchemaErrors(message: string, doc: unknown): FlagSetError[] {
  const json = message.match(/\[[\s\S]*\]$/)?.[0];
  let errors: AjvError[];
  try {
    errors = json ? (JSON.parse(json) as AjvError[]) : [];
  } catch {
    errors = [];
  }
  if (errors.length === 0) {
    return [
      new FlagSetError(
        '(document)',
        undefined,
        `flagd's schema: ${message}`,
        "compare it with flagd's schema",
      ),
    ];
  }
  const specific = errors.filter((e) => !SUMMARIES.has(e.keyword));
  // Leaves: no other error lies deeper below the same node.
  const leaves = specific.filter((e) => !specific.some((o) => isPrefix(e.instancePath, o.instancePath)));
  const byPath = new Map<string, AjvError[]>();
  for (const e of leaves) byPath.set(e.instancePath, [...(byPath.get(e.instancePath) ?? []), e]);
  const out: FlagSetError[] = [];
  for (const [pointer, here] of byPath) {
    // A constraint on the value (pattern, minimum, enum...) beats "must be <type>" from a branch
    // that expected another kind of node; with only type errors left, say every type allowed.
    const constraints = here.filter((e) => e.keyword !== 'type');
    const value = valueAt(doc, pointer);
    if (constraints.length > 0) {
      const seen = new Set<string>();
      for (const e of constraints) {
        const problem = describe(e);
        if (seen.has(problem)) continue;
        seen.add(problem);
        out.push(new FlagSetError(toPath(pointer), value, problem, fixFor(e)));
      }
    } else {
      const types = [...new Set(here.map((e) => String(e.params?.type)))];
      out.push(
        new FlagSetError(
          toPath(pointer),
          value,
          `flagd's schema wants ${types.join(' or ')} here; flagd loads it anyway`,
          `write ${types.join(' or ')}`,
        ),
      );
    }
  }
  return out;
}

function describe(e: AjvError): string {
  const p = e.params ?? {};
  switch (e.keyword) {
    case 'pattern':
      return `does not match flagd's schema pattern ${String(p.pattern)}; flagd loads it anyway`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `must be ${String(p.comparison)} ${String(p.limit)} by flagd's schema; flagd loads it anyway`;
    case 'enum':
      return `is not one of ${JSON.stringify(p.allowedValues)} allowed by flagd's schema; flagd loads it anyway`;
    case 'additionalProperties':
      return `"${String(p.additionalProperty)}" is not a field flagd's schema allows here; flagd ignores it`;
    case 'required':
      return `misses "${String(p.missingProperty)}", which flagd's schema requires`;
    default:
      return `flagd's schema says: ${e.message ?? e.keyword}; flagd loads it anyway`;
  }
}

function fixFor(e: AjvError): string {
  const p = e.params ?? {};
  if (e.keyword === 'additionalProperties') return `remove "${String(p.additionalProperty)}" or fix its name`;
  if (e.keyword === 'required') return `add "${String(p.missingProperty)}"`;
  if (e.keyword === 'enum') return `use one of ${JSON.stringify(p.allowedValues)}`;
  return "change the value to what flagd's schema allows";
}
