// How an instance's command line is handed to /bin/sh. A simple command gets `exec` in front so
// that the shell replaces itself with the app: the pid we hold is the app's, and signals reach it
// directly. Compound command lines (pipelines, lists, subshells, reserved words) are left alone:
// they still run in their own process group, which is what stop and crash clean-up signal.

const QUOTED = /'[^']*'|"(?:\\.|[^"\\])*"/g;
const COMPOUND = /[;&|\n()]/;
const RESERVED =
  /^(?:if|then|else|elif|fi|for|while|until|case|esac|do|done|function|select|time|exec|\{|\}|!)(?:\s|$)/;
// Leading `NAME=value` assignments: `FOO=1 exec cmd` keeps FOO in cmd's environment.
const ASSIGNMENTS = /^(?:[A-Za-z_][A-Za-z0-9_]*=(?:'[^']*'|"(?:\\.|[^"\\])*"|[^\s'"])*\s+)*/;

/** The script to pass to `/bin/sh -c`. */
export function shellScript(command: string): string {
  const trimmed = command.trim();
  if (trimmed === '') return trimmed;
  if (COMPOUND.test(trimmed.replace(QUOTED, "''"))) return trimmed;
  const prefix = ASSIGNMENTS.exec(trimmed)?.[0] ?? '';
  const rest = trimmed.slice(prefix.length);
  if (rest === '' || RESERVED.test(rest)) return trimmed;
  return `${prefix}exec ${rest}`;
}

/** The program name of a command line, for messages (`FOO=1 ./server --x` -> `./server`). */
export function commandName(command: string): string {
  const trimmed = command.trim();
  const prefix = ASSIGNMENTS.exec(trimmed)?.[0] ?? '';
  const rest = trimmed.slice(prefix.length).replace(/^exec\s+/, '');
  return rest.split(/\s+/)[0] ?? rest;
}
