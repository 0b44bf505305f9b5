// A flag in words: its variants, who gets which, and what changed between two versions.
import type { FlagChange, FlagDefinition } from '../api/types.ts';

/** A variant's value as JSON: true, "blue", {"limit":3}. */
export const valueText = (value: unknown): string => JSON.stringify(value) ?? 'undefined';

/**
 * Who gets which variant: a split in shares ("on 50% · off 50%"), "everyone: <default>" without a
 * rule, or "rule" for any other JsonLogic (shown in full beside it).
 */
export function targetingText(flag: Pick<FlagDefinition, 'targeting' | 'defaultVariant'>): string {
  const rule = flag.targeting;
  if (!rule || Object.keys(rule).length === 0)
    return flag.defaultVariant ? `everyone: ${flag.defaultVariant}` : "everyone: the code's default";
  const fractional = rule.fractional;
  if (Array.isArray(fractional)) {
    const buckets = fractional.filter(
      (b): b is [string, number] => Array.isArray(b) && typeof b[0] === 'string' && typeof b[1] === 'number',
    );
    const total = buckets.reduce((s, [, w]) => s + w, 0);
    if (buckets.length > 0 && total > 0)
      return buckets.map(([name, w]) => `${name} ${Math.round((w / total) * 1000) / 10}%`).join(' · ');
  }
  return 'rule';
}

export interface FieldChange {
  readonly field: string;
  readonly before: string;
  readonly after: string;
}

const fieldText = (flag: FlagDefinition | undefined, field: string): string => {
  if (!flag) return '–';
  const value = (flag as unknown as Record<string, unknown>)[field];
  return value === undefined ? '–' : valueText(value);
};

/** Each field a change touched, before and after. */
export function fieldChanges(change: FlagChange): FieldChange[] {
  return change.fields.map((field) => ({
    field,
    before: fieldText(change.before, field),
    after: fieldText(change.after, field),
  }));
}
