// `rewind completion bash|fish` put in force in a real bash and a real fish: what a <Tab> after
// each line offers.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const BIN = join(import.meta.dirname, '../../bin/rewind.js');
const dir = mkdtempSync(join(tmpdir(), 'rewind-completion-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const rewind = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

const script = rewind('completion', 'bash');
const file = join(dir, 'rewind.bash');
writeFileSync(file, script.stdout);

/** What bash offers for the words typed so far, the last one being completed. */
function offers(...words: string[]): string[] {
  const array = words.map((w) => `'${w}'`).join(' ');
  const r = spawnSync(
    'bash',
    [
      '-c',
      `source '${file}'; COMP_WORDS=(${array}); COMP_CWORD=${words.length - 1}; _rewind_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

const CASES: [string, string[], string[]][] = [
  ['a command by its start', ['rewind', 'dep'], ['deploy']],
  ['two commands with one start', ['rewind', 'dr'], ['drill', 'drills']],
  ['an option of the command typed', ['rewind', 'deploy', 'shop', '--w'], ['--wait', '--watch']],
  ['a subcommand', ['rewind', 'db', 'l'], ['lint']],
  [
    'an option of a subcommand, past a global option and its value',
    ['rewind', '--url', 'http://h:1', 'config', 'diff', 'shop', '--f'],
    ['--from'],
  ],
  ['a global option before any command', ['rewind', '--ur'], ['--url']],
];

test('the script is written for bash and complete names its function', () => {
  assert.equal(script.status, 0, script.stderr);
  assert.match(script.stdout, /^complete -F _rewind_complete rewind$/m);
});

for (const [name, words, want] of CASES) {
  test(`bash completes ${name}: ${words.join(' ')}<Tab>`, () => {
    assert.deepEqual(offers(...words), want);
  });
}

test('zsh gets the same script through bashcompinit', () => {
  const zsh = rewind('completion', 'zsh');
  assert.equal(zsh.status, 0, zsh.stderr);
  assert.ok(zsh.stdout.startsWith('autoload -U +X bashcompinit && bashcompinit\n'));
  // The same function and `complete` line as bash's (the comment line names the shell).
  assert.ok(zsh.stdout.endsWith(script.stdout.slice(script.stdout.indexOf('\n') + 1)));
});

const fishFile = join(dir, 'rewind.fish');
const fish = rewind('completion', 'fish');
writeFileSync(fishFile, fish.stdout);

/** What fish offers for the line typed so far (`complete -C` asks it as a <Tab> would). */
function fishOffers(...words: string[]): string[] {
  const line = words.join(' ').replace(/'/g, "\\'");
  const r = spawnSync('fish', ['--no-config', '-c', `source '${fishFile}'; complete -C '${line}'`], {
    encoding: 'utf8',
  });
  assert.equal(r.error, undefined, 'fish is not installed: apt-get install -y fish');
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

for (const [name, words, want] of CASES) {
  test(`fish completes ${name}: ${words.join(' ')}<Tab>`, () => {
    assert.equal(fish.status, 0, fish.stderr);
    assert.deepEqual(fishOffers(...words), want);
  });
}

test('a shell with no script is refused naming it and the shells there are', () => {
  const r = rewind('completion', 'tcsh');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no script for the shell "tcsh"; use one of bash, zsh, fish/);
});
