// The OpenFeature flagd testbed (release 3.9.0) read from ../shared/conformance: its Gherkin scenarios
// compiled to pickles by @cucumber/gherkin, each sorted into "runs against an OFREP server" or "does
// not apply, because ...", and its flag files merged the way the testbed's flagd serves them.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AstBuilder, compile, GherkinClassicTokenMatcher, Parser } from '@cucumber/gherkin';
import { IdGenerator, type Pickle } from '@cucumber/messages';
import { ROOT } from './rewind-harness.ts';

export const CONFORMANCE_DIR = resolve(
  process.env.REWIND_CONFORMANCE_DIR ?? join(ROOT, '../shared/conformance'),
);
export const TESTBED_DIR = join(CONFORMANCE_DIR, 'flagd-testbed');

/** flagd-core 4.0.1 buckets with the testbed's v2 algorithm; v1 and v3 examples are other engines'. */
const FRACTIONAL_VERSION = '@fractional-v2';

/** Where a scenario's flags come from: the merged flag files, one raw file, or the evaluator testkit. */
export type FlagSource = 'allFlags' | `raw:${string}` | 'testkit';

export interface TestbedScenario {
  /** "gherkin/targeting.feature:42 Fractional operator (jack)": unique, stable, readable. */
  readonly name: string;
  readonly tags: readonly string[];
  readonly pickle: Pickle;
  readonly source: FlagSource;
  /** Why the scenario does not apply to an OFREP server; undefined when it runs. */
  readonly skip?: string;
}

const WHOLE_FEATURES: Readonly<Record<string, string>> = {
  'connection.feature':
    "a provider's gRPC connection to flagd (reconnects, unavailable and forbidden servers); OFREP is one HTTP request per evaluation",
  'events.feature':
    "provider events (ready, stale, change, error) pushed by flagd's sync stream; the OFREP server provider emits none",
  'rpc-caching.feature': "the flagd RPC provider's evaluation cache; the OFREP server provider has no cache",
  'config.feature': "the flagd provider's own options and environment variables, not the server's answers",
  'sync-payload.feature': "the in-process provider's sync stream payload; OFREP has no sync stream",
};

const STEP_REASONS: readonly [RegExp, string][] = [
  [/event handler|event was fired|event payload/, 'waits for provider events, which OFREP does not emit'],
  [/connection is lost/, "drops the provider's connection to flagd; OFREP holds none"],
  [/the flag was modified/, 'needs a change event from the sync stream to know the flag changed'],
  [/fatal state|unavailable flagd provider|forbidden flagd provider/, "tests the provider's connection"],
];

function skipReason(feature: string, pickle: Pickle, tags: readonly string[]): string | undefined {
  const whole = WHOLE_FEATURES[feature];
  if (whole) return whole;
  for (const step of pickle.steps) {
    for (const [pattern, reason] of STEP_REASONS) if (pattern.test(step.text)) return reason;
  }
  const version = tags.find((t) => /^@fractional-v\d$/.test(t));
  if (version && version !== FRACTIONAL_VERSION) {
    return `${version.slice(1)} bucketing examples; flagd-core 4.0.1, which Rewind embeds, implements ${FRACTIONAL_VERSION.slice(1)} (each engine runs one version's examples)`;
  }
  if (tags.includes('@deprecated')) {
    return 'marked @deprecated by the testbed and contradicted by its @no-default-variant successor';
  }
  if (pickle.steps.some((s) => s.text.includes('"flagd-context-aware"'))) {
    return 'reads `injectedmetadata`, a static context value flagd adds from its own start-up options (-X); Rewind has no such option, the app sends its context';
  }
  return undefined;
}

function sourceOf(pickle: Pickle): FlagSource {
  if (pickle.steps.some((s) => s.text === 'an evaluator')) return 'testkit';
  for (const step of pickle.steps) {
    const m = /^an option "selector" of type "String" with value "(.*)"$/.exec(step.text);
    if (m?.[1] === 'flags/allFlags.json') return 'allFlags';
    if (m?.[1]?.startsWith('rawflags/')) return `raw:${m[1].slice('rawflags/'.length)}`;
    if (m) throw new Error(`unknown selector ${m[1]} in ${pickle.uri}`);
  }
  return 'allFlags';
}

/** Every scenario of the testbed, Scenario Outlines expanded, in file order. */
export function loadScenarios(): TestbedScenario[] {
  const files = ['gherkin', 'evaluator/gherkin'].flatMap((dir) =>
    readdirSync(join(TESTBED_DIR, dir))
      .filter((f) => f.endsWith('.feature'))
      .sort()
      .map((f) => `${dir}/${f}`),
  );
  const scenarios: TestbedScenario[] = [];
  for (const file of files) {
    const parser = new Parser(new AstBuilder(IdGenerator.incrementing()), new GherkinClassicTokenMatcher());
    const doc = parser.parse(readFileSync(join(TESTBED_DIR, file), 'utf8'));
    // Line numbers of scenarios and example rows, so that a report points into the feature file.
    const lines = new Map<string, number>();
    for (const { scenario } of doc.feature?.children ?? []) {
      if (!scenario) continue;
      lines.set(scenario.id, scenario.location.line);
      for (const row of scenario.examples.flatMap((ex) => ex.tableBody)) lines.set(row.id, row.location.line);
    }
    for (const pickle of compile(doc, file, IdGenerator.incrementing())) {
      const tags = pickle.tags.map((t) => t.name);
      const line = lines.get(pickle.astNodeIds.at(-1) ?? '') ?? 0;
      const skip = skipReason(file.split('/').at(-1) ?? file, pickle, tags);
      const name = `${file}:${line} ${pickle.name}`;
      scenarios.push({ name, tags, pickle, source: skip ? 'allFlags' : sourceOf(pickle), skip });
    }
  }
  return scenarios;
}

type FlagFile = { flags: Record<string, unknown>; $evaluators?: Record<string, unknown>; metadata?: unknown };

const readFlagFile = (path: string): FlagFile => JSON.parse(readFileSync(join(TESTBED_DIR, path), 'utf8'));

/**
 * The flag set document a source stands for. allFlags is every file of flags/ but the selector
 * ones merged into one set (flags and $evaluators), as the testbed's flagd serves flags/allFlags.json.
 */
export function flagDocument(source: FlagSource): FlagFile {
  if (source === 'testkit') return readFlagFile('evaluator/flags/testkit-flags.json');
  if (source.startsWith('raw:')) return readFlagFile(`flags/${source.slice(4)}`);
  const merged: FlagFile = { flags: {}, $evaluators: {} };
  for (const file of readdirSync(join(TESTBED_DIR, 'flags')).sort()) {
    if (!file.endsWith('.json') || file.startsWith('selector-')) continue;
    const doc = readFlagFile(`flags/${file}`);
    Object.assign(merged.flags, doc.flags);
    Object.assign(merged.$evaluators as object, doc.$evaluators);
  }
  return merged;
}
