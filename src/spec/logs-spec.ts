// The `logs` block of an app in rewind.yaml, and what an error line is: the runtime counts the
// error lines its instances write (stdout and stderr), and the analysis judges them per minute
// (`metric: logErrors`). One definition for every runtime: the built-in agent matches lines as it
// captures them; another runtime matches the lines it reads from its platform with the same
// function.
import { z } from 'zod';

/** Level names that are errors, lower case (pino, bunyan, winston, zap, logrus, slog, log4j, GCP, syslog, JUL). */
const ERROR_LEVELS = new Set([
  'error',
  'err',
  'fatal',
  'critical',
  'crit',
  'alert',
  'emerg',
  'emergency',
  'panic',
  'dpanic',
  'severe',
]);

/** pino and bunyan write levels as numbers: 50 is error, 60 fatal. */
const NUMERIC_ERROR_LEVEL = 50;

// The first level-like key of a JSON line, at any depth: "level" (pino, winston, zap, logrus,
// slog), "severity" (GCP, OpenTelemetry), "levelname" (python-json-logger), "log.level" (ECS),
// "@l" (Serilog compact), "lvl". A regular expression rather than JSON.parse: the agent runs it on
// every line of a watched app, and a truncated or huge line must not cost a parse.
const JSON_LEVEL = /"(?:level|severity|levelname|log\.level|@l|lvl)"\s*:\s*(?:"([^"]{1,20})"|(\d{1,3})\b)/i;

// Plain text, each with the line it is for.
const TEXT_ERRORS: readonly RegExp[] = [
  // ERROR / FATAL as a word in upper case: "ERROR:root:...", "[ERROR]", "2024-01-01 ERROR ...".
  /\b(?:ERROR|FATAL|CRITICAL|PANIC|SEVERE)\b/,
  // logfmt: level=error, level="fatal".
  /\blevel="?(?:error|err|fatal|critical|crit|panic|alert|emerg)\b/i,
  // nginx and Apache: "[error]", "[crit]", "[emerg]".
  /\[(?:error|err|crit|critical|alert|emerg|fatal)\]/i,
  // Go: "panic: ...", "fatal error: ...".
  /^(?:panic|fatal error): /,
  // An exception's own line: JavaScript's "TypeError: ...", Python's last traceback line
  // ("KeyError: 'x'"), Java's printStackTrace ("java.lang.IllegalStateException: ..."). Stack
  // frames ("    at ...", "  File ...") and "Caused by:" are not counted: one error, one line.
  /^(?:Uncaught )?(?:[A-Za-z_$][\w$.]*)?(?:Error|Exception)(?::|$)/,
  // Java's uncaught exception.
  /^Exception in thread /,
  // klog (Kubernetes components, glog): "E0312 10:00:00.000000 ..." and "F0312 ...".
  /^[EF]\d{4} \d\d:\d\d:\d\d/,
];

function jsonLevel(line: string): boolean | null {
  const first = line.trimStart();
  if (!first.startsWith('{')) return null;
  const m = JSON_LEVEL.exec(line);
  if (!m) return null;
  if (m[1] !== undefined) return ERROR_LEVELS.has(m[1].toLowerCase());
  return Number(m[2]) >= NUMERIC_ERROR_LEVEL;
}

/**
 * Whether a log line is an error by the built-in patterns. A JSON line with a level field is
 * judged by that field alone (a message that mentions ERROR at level info is not an error);
 * other lines by the plain-text patterns.
 */
export function isDefaultErrorLine(line: string): boolean {
  const level = jsonLevel(line);
  if (level !== null) return level;
  return TEXT_ERRORS.some((re) => re.test(line));
}

/** The problem with an error pattern, or null when it compiles. */
export function errorPatternProblem(pattern: string): string | null {
  try {
    new RegExp(pattern);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * The test of an error line: the app's own pattern (a JavaScript regular expression, searched in
 * the line) when it has one, the built-in patterns otherwise. Throws on a pattern that does not
 * compile (the config check refuses those first).
 */
export function errorLineMatcher(pattern?: string): (line: string) => boolean {
  if (pattern === undefined || pattern === '') return isDefaultErrorLine;
  const re = new RegExp(pattern);
  return (line) => re.test(line);
}

export const logsSpecSchema = z
  .strictObject({
    /**
     * A regular expression (JavaScript syntax) searched in each line the app's instances write;
     * a line that matches is an error line. Absent: the built-in patterns (isDefaultErrorLine).
     */
    errorPattern: z
      .string()
      .min(1, 'give a regular expression, or leave errorPattern out for the built-in patterns')
      .superRefine((pattern, ctx) => {
        const problem = errorPatternProblem(pattern);
        if (problem)
          ctx.addIssue({
            code: 'custom',
            message: `errorPattern: ${JSON.stringify(pattern)} is not a regular expression (${problem}); write one such as '\\b(ERROR|FATAL)\\b' (single quotes in YAML), or leave errorPattern out for the built-in patterns`,
          });
      })
      .optional(),
  })
  .prefault({});

export type LogsSpec = z.output<typeof logsSpecSchema>;
