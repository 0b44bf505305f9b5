import { pino } from 'pino';

export type Logger = pino.Logger;

export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino({ level: options.level ?? process.env.REWIND_LOG_LEVEL ?? 'info', name: options.name ?? 'rewind' });
}

export const silentLogger: Logger = pino({ level: 'silent' });
