// The steps of the flagd testbed's evaluation scenarios, run against any way of evaluating a flag
// (raw OFREP over HTTP, or the OpenFeature SDK with the OFREP provider). A scenario either passes or
// throws an assertion error naming the step; an unknown step throws too, so nothing passes unread.
import assert from 'node:assert/strict';
import type { Pickle, PickleStep } from '@cucumber/messages';

export type FlagType = 'Boolean' | 'String' | 'Integer' | 'Float' | 'Object';

export interface EvaluationRequest {
  readonly key: string;
  readonly type: FlagType;
  readonly codeDefault: unknown;
  readonly context: Record<string, unknown>;
}

/** What an OpenFeature client hands the application: EvaluationDetails. */
export interface Details {
  readonly value: unknown;
  readonly reason?: string;
  readonly variant?: string;
  readonly errorCode?: string;
  readonly errorMessage?: string;
  readonly metadata: Readonly<Record<string, unknown>>;
}

export type Evaluate = (request: EvaluationRequest) => Promise<Details>;

/** Gherkin table cells keep `\"`; the testbed writes JSON objects that way. */
const unquote = (text: string) => text.replace(/\\"/g, '"');

export function typedValue(type: string, text: string): unknown {
  switch (type) {
    case 'Boolean':
      return text === 'true';
    case 'Integer':
      return Number.parseInt(text, 10);
    case 'Float':
      return Number.parseFloat(text);
    case 'Object':
      return JSON.parse(unquote(text));
    case 'String':
      return text;
    default:
      throw new Error(`unknown testbed value type ${type}`);
  }
}

type StepState = {
  request?: Omit<EvaluationRequest, 'context'>;
  context: Record<string, unknown>;
  details?: Details;
};
type Step = (state: StepState, m: RegExpExecArray, step: PickleStep, evaluate: Evaluate) => unknown;

const evaluated = (state: StepState): Details => {
  assert.ok(state.details, 'checked before the flag was evaluated');
  return state.details;
};
const why = (d: Details | undefined) =>
  `reason ${d?.reason}, ${d?.errorCode ?? 'no error'}: ${d?.errorMessage ?? ''}`;

/** The testbed's step texts and what each does; the flag source is chosen before a scenario runs. */
const STEPS: readonly [RegExp, Step][] = [
  // Provider set-up: the source of flags is picked per scenario; OFREP has no cache to disable.
  [/^an option "[^"]*" of type "[^"]*" with value "[^"]*"$/, () => {}],
  [/^an? (stable|metadata|syncpayload) flagd provider$/, () => {}],
  [/^an evaluator$/, () => {}],
  [
    /^a (\w+)-flag with key "(.*)" and a (?:default|fallback) value "(.*)"$/,
    (state, [, type, key, fallback]) => {
      state.request = {
        key: key as string,
        type: type as FlagType,
        codeDefault: typedValue(type as string, fallback as string),
      };
    },
  ],
  [
    /^a context containing a key "(.*)", with type "(\w+)" and with value "(.*)"$/,
    (state, [, key, type, value]) => {
      state.context[key as string] = typedValue(type as string, value as string);
    },
  ],
  [
    /^a context containing a targeting key with value "(.*)"$/,
    (state, [, value]) => {
      state.context.targetingKey = value;
    },
  ],
  [
    /^a context containing a nested property with outer key "(.*)" and inner key "(.*)", with value "(.*)"$/,
    (state, [, outer, inner, value]) => {
      state.context[outer as string] = { [inner as string]: value };
    },
  ],
  [
    /^the flag was evaluated with details$/,
    async (state, _m, _step, evaluate) => {
      assert.ok(state.request, 'evaluated before a flag was named');
      state.details = await evaluate({ ...state.request, context: { ...state.context } });
    },
  ],
  [
    /^the resolved details value should be "(.*)"$/,
    (state, [, value]) => {
      assert.ok(state.request);
      assert.deepEqual(
        evaluated(state).value,
        typedValue(state.request.type, value as string),
        `value (${why(state.details)})`,
      );
    },
  ],
  [
    /^the reason should be "(.*)"$/,
    (state, [, reason]) => assert.equal(evaluated(state).reason, reason, `reason (${why(state.details)})`),
  ],
  [
    /^the error-code should be "(.*)"$/,
    (state, [, code]) =>
      assert.equal(evaluated(state).errorCode ?? '', code, `error code (${why(state.details)})`),
  ],
  [/^the variant should be "(.*)"$/, (state, [, variant]) => assert.equal(evaluated(state).variant, variant)],
  [
    /^the resolved metadata is empty$/,
    (state) => assert.deepEqual(evaluated(state).metadata, {}, 'metadata'),
  ],
  [
    /^the resolved metadata should contain$/,
    (state, _m, step) => {
      const rows = step.argument?.dataTable?.rows.map((r) => r.cells.map((c) => c.value)) ?? [];
      const got = evaluated(state).metadata;
      for (const [key, type, value] of rows.slice(1)) {
        assert.deepEqual(got[key as string], typedValue(type as string, value as string), `metadata.${key}`);
      }
    },
  ],
];

/** Runs the steps of one scenario; an unknown step throws, so nothing passes unread. */
export async function runSteps(pickle: Pickle, evaluate: Evaluate): Promise<void> {
  const state: StepState = { context: {} };
  for (const step of pickle.steps) {
    const match = STEPS.map(([pattern, run]) => [pattern.exec(step.text), run] as const).find(([m]) => m);
    if (!match) throw new Error(`the testbed step "${step.text}" has no implementation here`);
    await match[1](state, match[0] as RegExpExecArray, step, evaluate);
  }
}
