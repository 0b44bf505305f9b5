// `rewind completion bash|zsh`: a completion script written from the commands and options the
// CLI really has (commander's tree), so it cannot fall behind them. zsh runs the bash one
// through its bashcompinit.
import type { Command } from 'commander';

export const COMPLETION_SHELLS = ['bash', 'zsh'] as const;
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

/** The script for `shell`; `source <(rewind completion bash)` puts it in force. */
export function completionScript(program: Command, shell: CompletionShell): string {
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}_complete`;
  const all = levels(program);
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
