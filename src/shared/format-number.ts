// Numbers as people read them in reports and messages: enough digits to compare, never a float's
// noise (0.30000000000000004) nor a dozen decimals of a rate.

/** At most 3 decimals, fewer as the number grows: 0.30000000000000004 -> 0.3, 12.345 -> 12.3, 1234.5 -> 1235. */
export function roundForPeople(x: number): number {
  const a = Math.abs(x);
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
  return Number(x.toFixed(digits));
}

/** roundForPeople as text; a non-zero number it would round to 0 (a p-value of 0.00002) as 2.0e-5. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const rounded = roundForPeople(x);
  return rounded === 0 && x !== 0 ? x.toExponential(1) : String(rounded);
}

/** A share (0..1) as a percentage: 0.0123 -> "1.23%". */
export function formatPercent(share: number): string {
  return `${formatNumber(share * 100)}%`;
}
