// docs/configuration.md names every key rewind.yaml accepts: the keys are read from the schema
// itself (src/spec), so a key added to the schema without its documentation fails here.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { z } from 'zod';
import { configSchema } from '../../src/spec/app-spec.ts';

interface JsonSchema {
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
}

/** Every key path of the schema, e.g. `apps[].strategy.canary.steps[].setWeight`. */
function keyPaths(schema: JsonSchema, prefix = ''): string[] {
  const out: string[] = [];
  for (const sub of [...(schema.anyOf ?? []), ...(schema.oneOf ?? []), ...(schema.allOf ?? [])])
    out.push(...keyPaths(sub, prefix));
  if (schema.items) out.push(...keyPaths(schema.items, `${prefix}[]`));
  if (typeof schema.additionalProperties === 'object')
    out.push(...keyPaths(schema.additionalProperties, `${prefix}.*`));
  for (const [key, sub] of Object.entries(schema.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    out.push(path, ...keyPaths(sub, path));
  }
  return [...new Set(out)];
}

test('docs/configuration.md names every key of the rewind.yaml schema', () => {
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const paths = keyPaths(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema);
  assert.ok(paths.length > 100, `the schema walk found only ${paths.length} keys`);
  // A key is documented when the page writes it as YAML (`key:`) or in code (`key` or `a.key`).
  const documented = (key: string) => new RegExp(`(^|[\\s{,\`.])${key}(:|\`)`, 'm').test(doc);
  const missing = paths.filter((p) => !documented(p.split('.').at(-1)!.replace(/\[\]$/, '')));
  assert.deepEqual(missing, [], `keys of the schema that docs/configuration.md does not mention`);
});
