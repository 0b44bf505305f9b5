// Plain-text output for people; --json output is the API's own JSON.

export function table(rows: readonly (readonly unknown[])[], header: readonly string[]): string {
  const cells = [header, ...rows].map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '))
    .join('\n');
}

export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** Time left until `until`: "12m 5s left", "40s left". */
export function left(until: number, now = Date.now()): string {
  const s = Math.max(0, Math.ceil((until - now) / 1000));
  if (s < 60) return `${s}s left`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s left`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m left`;
}

export function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

/**
 * One refresh of a `--watch` view. On a terminal it clears the screen first; piped (to a file, a
 * CI log, `grep`) it writes no control codes, only a line with the time between the frames.
 */
export function watchFrame(text: string, options: { readonly tty: boolean; readonly at: number }): string {
  return options.tty ? `\x1b[2J\x1b[H${text}` : `--- ${clock(options.at)}\n${text}`;
}
