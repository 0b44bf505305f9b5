// Durations as people write them in rewind.yaml and on the command line: 250ms, 30s, 5m, 1h, 1m30s.

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;

/** Milliseconds, or undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === '0') return trimmed === '0' ? 0 : undefined;
  PART.lastIndex = 0;
  let total = 0;
  let end = 0;
  for (let m = PART.exec(trimmed); m; m = PART.exec(trimmed)) {
    total += Number(m[1]) * (UNIT_MS[m[2]!] ?? 0);
    end = PART.lastIndex;
  }
  return end === trimmed.length ? Math.round(total) : undefined;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return 'unknown';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 59_950) return `${Number((ms / 1000).toFixed(1))}s`;
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}

/** 30d, 2w, or anything parseDuration reads (12h, 90m); undefined when unreadable or not positive. */
export function parseExpiry(text: string): number | undefined {
  const m = /^(\d+)([dw])$/.exec(text.trim());
  const ms = m ? Number(m[1]) * (m[2] === 'w' ? 7 : 1) * 86_400_000 : parseDuration(text);
  return ms !== undefined && ms > 0 ? ms : undefined;
}
