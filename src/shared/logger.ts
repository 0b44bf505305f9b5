// Server logs: pino underneath; one readable line per record for people (the default), or pino's
// JSON lines with REWIND_LOG_FORMAT=json for log shippers.
import { pino } from 'pino';

export type Logger = pino.Logger;

const LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info ',
  40: 'warn ',
  50: 'error',
  60: 'fatal',
};
const OMIT = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'app', 'rollout', 'err']);

function humanLine(line: string): string {
  const r = JSON.parse(line) as Record<string, unknown> & {
    level: number;
    time: number;
    msg?: string;
    err?: { message?: string };
  };
  const extra = Object.entries(r)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const time = new Date(r.time).toISOString().slice(11, 23);
  const app = r.app ? `${r.app}: ` : '';
  const err = r.err?.message ? ` (${r.err.message})` : '';
  return `${time} ${LEVELS[r.level] ?? r.level} ${app}${r.msg ?? ''}${err}${extra ? `  ${extra}` : ''}\n`;
}

export function createLogger(options: { level?: string; format?: 'human' | 'json' } = {}): Logger {
  const level = options.level ?? process.env.REWIND_LOG_LEVEL ?? 'info';
  const format = options.format ?? (process.env.REWIND_LOG_FORMAT === 'json' ? 'json' : 'human');
  if (format === 'json') return pino({ level, name: 'rewind' });
  return pino({ level, name: 'rewind' }, { write: (line: string) => process.stdout.write(humanLine(line)) });
}

export const silentLogger: Logger = pino({ level: 'silent' });
