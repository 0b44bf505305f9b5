// `npm run build:web`: builds the dashboard (web/) into web/dist with Vite, which `rewind server`
// serves at /. Skipped when web/dist is newer than every input: the files under web/, the files
// of src/ they import, and the lock file (an upgraded React or Vite changes the output). Prints
// one line either way. Run by `npm install` (prepare), `npm start` (prestart) and `npm test`.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { ensureNode } from './ensure-node.js';

ensureNode();
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const web = join(root, 'web');
const dist = join(web, 'dist');
const built = join(dist, 'index.html');

function filesUnder(dir, skip) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (skip.has(path)) return [];
    return entry.isDirectory() ? filesUnder(path, skip) : entry.isFile() ? [path] : [];
  });
}

/** Files outside web/ that web/src imports by a relative path (`../../../src/api/responses.ts`). */
function importedFromOutside(files) {
  const found = new Set();
  for (const file of files) {
    if (!/\.tsx?$/.test(file)) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(/\bfrom\s+'(\.\.?\/[^']+)'/g)) {
      const target = resolve(dirname(file), m[1]);
      if (relative(web, target).startsWith('..') && existsSync(target)) found.add(target);
    }
  }
  return [...found];
}

function inputs() {
  const own = filesUnder(web, new Set([dist, join(web, 'node_modules')]));
  return [...own, ...importedFromOutside(own), join(root, 'package-lock.json')].filter(existsSync);
}

function newestInput() {
  let newest = { path: '', mtimeMs: 0 };
  for (const path of inputs()) {
    const { mtimeMs } = statSync(path);
    if (mtimeMs > newest.mtimeMs) newest = { path, mtimeMs };
  }
  return newest;
}

const fail = (message) => {
  process.stderr.write(`build-web: ${message}\n`);
  process.exit(1);
};

/** Total size of the built JavaScript, raw and gzipped, in kB. */
function jsSize() {
  const js = filesUnder(dist, new Set()).filter((f) => f.endsWith('.js'));
  const raw = js.reduce((sum, f) => sum + statSync(f).size, 0);
  const gzip = js.reduce((sum, f) => sum + gzipSync(readFileSync(f), { level: 9 }).length, 0);
  return `${(raw / 1024).toFixed(1)} kB JS, ${(gzip / 1024).toFixed(1)} kB gzipped`;
}

const newest = newestInput();
if (existsSync(built) && statSync(built).mtimeMs > newest.mtimeMs) {
  console.log(`build-web: web/dist is up to date (${jsSize()})`);
  process.exit(0);
}

let vite;
try {
  vite = await import('vite');
} catch {
  fail(
    'Vite is not installed, so the dashboard (web/) cannot be built: run npm install (with the devDependencies)',
  );
}
const why = existsSync(built) ? `${relative(root, newest.path)} changed` : 'no build yet';
const started = performance.now();
try {
  await vite.build({ configFile: join(web, 'vite.config.ts'), logLevel: 'warn' });
} catch (err) {
  fail(
    `the dashboard did not build: ${err?.message ?? err}\nFix the file named above under web/, then run npm run build:web`,
  );
}
console.log(
  `build-web: built web/dist in ${((performance.now() - started) / 1000).toFixed(1)} s (${why}; ${jsSize()})`,
);
