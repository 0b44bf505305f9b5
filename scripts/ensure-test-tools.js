// The programs `npm test` drives besides Node and the databases: Debian's Chromium for the
// dashboard's browser stories, fish for the completion test, Prometheus for the tests of
// `metrics: prometheus`. A missing one is installed with apt-get when this runs as root on Debian
// (so a fresh machine needs no step by hand); otherwise it is named with the command that installs
// it, and its tests fail saying so. Plain JavaScript: it runs before anything is built.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const TOOLS = [
  { bin: process.env.REWIND_CHROMIUM || 'chromium', pkg: 'chromium', for: "the dashboard's browser stories" },
  { bin: 'fish', pkg: 'fish', for: 'the completion test' },
  {
    bin: process.env.REWIND_PROMETHEUS || 'prometheus',
    pkg: 'prometheus',
    for: 'the tests of metrics: prometheus',
  },
];

/** Whether `bin` (a path, or a name looked up on PATH) exists. */
function found(bin) {
  if (bin.includes('/')) return existsSync(bin);
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, bin)));
}

export function ensureTestTools() {
  const missing = TOOLS.filter((t) => !found(t.bin));
  if (missing.length === 0) return;
  const pkgs = missing.map((t) => t.pkg);
  const list = missing.map((t) => `${t.pkg} (${t.for})`).join(', ');
  const canInstall = process.getuid?.() === 0 && found('apt-get');
  if (!canInstall) {
    process.stderr.write(
      `test tools missing: ${list}; install them with: apt-get install -y ${pkgs.join(' ')}. Their tests will fail until then.\n`,
    );
    return;
  }
  process.stderr.write(`test tools missing: ${list}; installing with apt-get (once per machine)\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const installed =
    update.status === 0 &&
    spawnSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env }).status === 0;
  if (!installed)
    process.stderr.write(
      `apt-get could not install ${pkgs.join(' ')}; their tests will fail until they are installed.\n`,
    );
}
