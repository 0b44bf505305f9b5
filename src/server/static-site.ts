// The dashboard's built files (web/dist), read into memory once at start with their gzip twins and
// ETags: a handful of files, served from memory with no disk read per request. Any path that is
// not a file and has no extension is a page of the single-page app: it gets index.html.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface Asset {
  readonly body: Buffer;
  /** The gzip of body, when that is smaller. */
  readonly gzip: Buffer | undefined;
  readonly type: string;
  readonly etag: string;
  /** Content-hashed names (Vite's assets/) never change: cached for a year. */
  readonly immutable: boolean;
}

export interface StaticSite {
  /** The file at a URL path, the app's index.html for a page path, or undefined (a 404). */
  find(path: string): Asset | undefined;
  /** Null when the site is built; else what to do about it. */
  readonly missing: string | null;
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.txt', '.webmanifest']);

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : entry.isFile() ? [path] : [];
  });
}

function assetOf(path: string, root: string): Asset {
  const body = readFileSync(path);
  const ext = extname(path).toLowerCase();
  const zipped = COMPRESSIBLE.has(ext) && body.length > 512 ? gzipSync(body, { level: 9 }) : undefined;
  return {
    body,
    gzip: zipped && zipped.length < body.length ? zipped : undefined,
    type: TYPES[ext] ?? 'application/octet-stream',
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    immutable: relative(root, path).split(sep)[0] === 'assets',
  };
}

export function loadStaticSite(root: string): StaticSite {
  const index = join(root, 'index.html');
  if (!existsSync(index) || !statSync(index).isFile())
    return {
      find: () => undefined,
      missing: `the dashboard is not built (no ${index}); run npm run build:web (npm install and npm start build it)`,
    };
  const assets = new Map<string, Asset>();
  for (const file of filesUnder(root))
    assets.set(`/${relative(root, file).split(sep).join('/')}`, assetOf(file, root));
  const page = assets.get('/index.html')!;
  return {
    missing: null,
    find(path) {
      if (path === '/') return page;
      const hit = assets.get(path);
      if (hit) return hit;
      // A page of the app (/apps/shop/history) has no extension; a missing file (/x.js) does.
      return extname(path) === '' ? page : undefined;
    },
  };
}
