// Every `npx rewind ...` line in a shell block of README.md and docs/ runs as written when copied:
// each goes through a real shell with --help appended, so a line that is really a list of
// alternatives (`promote shop | abort shop`) or has a placeholder (`show <ID>`, a redirection to
// sh) fails, and so does a command or option the CLI does not have.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from '../support/rewind-harness.ts';

const run = promisify(execFile);

/** `file:line` and the command of every `npx rewind` line (after optional VAR=value) in sh blocks. */
function documentedCommands(): { at: string; line: string }[] {
  const files = [
    'README.md',
    ...readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  const out: { at: string; line: string }[] = [];
  for (const file of files) {
    let shell = false;
    readFileSync(join(ROOT, file), 'utf8')
      .split('\n')
      .forEach((text, i) => {
        const fence = /^\s*```(\w*)/.exec(text);
        if (fence) shell = !shell && /^(sh|bash|shell|console)$/.test(fence[1]!);
        else if (shell && /^(?:[A-Z_]+=\S+ )*npx rewind /.test(text))
          out.push({ at: `${file}:${i + 1}`, line: text.replace(/\s+#.*$/, '') });
      });
  }
  return out;
}

test('every documented rewind command line runs as written in a shell', async () => {
  const commands = documentedCommands();
  assert.ok(commands.length > 20, `found only ${commands.length} lines`);
  const bin = join(ROOT, 'bin/rewind.js');
  const failures: string[] = [];
  // A few at a time: each is a Node process, and the box may be busy.
  for (let i = 0; i < commands.length; i += 4) {
    await Promise.all(
      commands.slice(i, i + 4).map(async ({ at, line }) => {
        const script = `${line.replace('npx rewind', `"${process.execPath}" "${bin}"`)} --help`;
        try {
          await run('sh', ['-c', script], { cwd: ROOT, env: { ...process.env, CI_TOKEN: 'x' } });
        } catch (err) {
          const e = err as { code?: number; stderr?: string };
          failures.push(`${at}: ${line}\n  exit ${e.code}: ${e.stderr?.trim()}`);
        }
      }),
    );
  }
  assert.deepEqual(failures, []);
});
