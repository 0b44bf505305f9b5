// Secrets out of text that Rewind keeps or shows (an app's log lines in an incident): the values it
// knows are secret, and the shapes credentials take in logs whatever their value (a URL's password,
// an Authorization header, `password=...`). What it cannot know, it cannot hide: an app that prints a
// credential under an innocent name still leaks it, which is why known values come first.

export const REDACTED = '[redacted]';

/** Known values shorter than this are not looked for: they would hide ordinary words and numbers. */
export const MIN_SECRET_LENGTH = 4;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Credentials in a URL: scheme://user:password@host keeps the user. */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s@/]+@/gi;
/** An Authorization header's credentials, whatever its scheme. */
const AUTH_HEADER =
  /\b((?:proxy-)?authorization["']?\s*[:=]\s*["']?)(?:(basic|bearer|digest|token|negotiate)\s+)?[^\s"',;]+/gi;
/** A bearer token anywhere else. */
const BEARER = /\b(bearer)\s+(?!\[redacted\])[^\s"',;]+/gi;
/** `password=x`, `"apiKey": "x"`, `DB_PASSWORD: x`, `session_id=x`... */
const NAMED =
  /\b([\w.-]*?(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?|session[_-]?id)[\w.-]*["']?\s*[:=]\s*["']?)(?!\[redacted\])[^\s"',;&]+/gi;

/** The forms a value takes in a log line: as is, URL-encoded, inside a JSON string. */
function forms(value: string): string[] {
  return [value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)];
}

/**
 * A function that replaces, in a text, every known secret value (`secrets`, in its plain,
 * URL-encoded and JSON-escaped forms) and every credential-shaped token with [redacted]. Values
 * shorter than MIN_SECRET_LENGTH are only caught by their shape.
 */
export function secretRedactor(secrets: Iterable<string>): (text: string) => string {
  const known = [...new Set([...secrets].filter((s) => s.length >= MIN_SECRET_LENGTH).flatMap(forms))]
    // Longest first: a secret that contains another is replaced whole.
    .sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
  const values = known.length ? new RegExp(known.map(escapeRegExp).join('|'), 'g') : null;
  return (text) => {
    let out = values ? text.replace(values, REDACTED) : text;
    out = out.replace(URL_PASSWORD, `$1:${REDACTED}@`);
    out = out.replace(AUTH_HEADER, (_, head: string, scheme: string | undefined) =>
      scheme ? `${head}${scheme} ${REDACTED}` : `${head}${REDACTED}`,
    );
    out = out.replace(BEARER, `$1 ${REDACTED}`);
    return out.replace(NAMED, `$1${REDACTED}`);
  };
}
