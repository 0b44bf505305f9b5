// `rewind completion bash|zsh|fish`: a completion script written from the commands and options
// the CLI really has (commander's tree), so it cannot fall behind them. zsh runs the bash one
// through its bashcompinit; fish gets the same walk written as a fish function.
import type { Command } from 'commander';

export const COMPLETION_SHELLS = ['bash', 'zsh', 'fish'] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

interface Level {
  /** The command words from the program down to here, space-separated ('' for the program). */
  readonly path: string;
  readonly words: readonly string[];
}

function levels(command: Command, path = ''): Level[] {
  const subcommands = command.commands.map((c) => c.name());
  const options = command.options.flatMap((o) => [o.long, o.short].filter((x): x is string => Boolean(x)));
  const words = [...subcommands, ...options, '--help'];
  return [
    { path, words: [...new Set(words)] },
    ...command.commands.flatMap((c) => levels(c, path ? `${path} ${c.name()}` : c.name())),
  ];
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** fish: the words of the deepest command path typed so far; fish itself matches their starts. */
function fishScript(name: string, fn: string, all: readonly Level[]): string {
  const paths = all.map((l) => l.path).filter(Boolean);
  return [
    `# fish completion for ${name}: ${name} completion fish | source`,
    `function ${fn}`,
    '    set -l path ""',
    // Every word typed before the one being completed; options and values are passed over.
    '    for word in (commandline -opc)[2..-1]',
    '        set -l candidate (string trim -- "$path $word")',
    '        switch $candidate',
    `            case ${paths.map(quote).join(' ')}`,
    '                set path $candidate',
    '        end',
    '    end',
    '    switch $path',
    ...all.flatMap((l) => [
      `        case ${quote(l.path)}`,
      `            printf '%s\\n' ${l.words.map(quote).join(' ')}`,
    ]),
    '    end',
    'end',
    `complete -c ${name} -f -a '(${fn})'`,
  ].join('\n');
}

/** The script for `shell`; `source <(rewind completion bash)` puts it in force. */
export function completionScript(program: Command, shell: CompletionShell): string {
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}_complete`;
  const all = levels(program);
  if (shell === 'fish') return `${fishScript(name, fn, all)}\n`;
  const paths = all.map((l) => l.path).filter(Boolean);
  const bash = [
    `# ${shell} completion for ${name}: source <(${name} completion ${shell})`,
    `${fn}() {`,
    '  local cur="${COMP_WORDS[COMP_CWORD]}" path="" word i',
    // The deepest command path the words typed so far name; options and values are passed over.
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    '    word="${COMP_WORDS[i]}"',
    '    case "${path:+$path }$word" in',
    `      ${paths.map(quote).join('|')}) path="\${path:+$path }$word" ;;`,
    '    esac',
    '  done',
    '  local words',
    '  case "$path" in',
    ...all.map((l) => `    ${quote(l.path)}) words=${quote(l.words.join(' '))} ;;`),
    '  esac',
    '  COMPREPLY=($(compgen -W "$words" -- "$cur"))',
    '}',
    `complete -F ${fn} ${name}`,
  ];
  const zsh = ['autoload -U +X bashcompinit && bashcompinit'];
  return `${[...(shell === 'zsh' ? zsh : []), ...bash].join('\n')}\n`;
}
