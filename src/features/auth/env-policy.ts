// Environment keys that change how a runtime loads code: whoever sets them runs code of their
// choosing in the app's processes, so a deploy --env that sets one needs the admin role.

const DANGEROUS_EXACT = new Set([
  'NODE_OPTIONS',
  'NODE_PATH',
  'PATH',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'JDK_JAVA_OPTIONS',
  'RUBYOPT',
  'RUBYLIB',
  'BASH_ENV',
  'ENV',
  'SHELLOPTS',
  'IFS',
]);
const DANGEROUS_PREFIXES = ['LD_', 'DYLD_', 'PYTHON', 'PERL5', 'PERLLIB', 'GCONV_'];

/** Whether setting `key` can make the runtime load other code. */
export function isDangerousEnvKey(key: string): boolean {
  const upper = key.toUpperCase();
  return DANGEROUS_EXACT.has(upper) || DANGEROUS_PREFIXES.some((p) => upper.startsWith(p));
}

/** The keys of `env` that need the admin role: dangerous ones not named in the app's run.allowEnv. */
export function dangerousEnvKeys(env: Readonly<Record<string, string>>, allow: readonly string[]): string[] {
  const allowed = new Set(allow);
  return Object.keys(env).filter((k) => isDangerousEnvKey(k) && !allowed.has(k));
}
