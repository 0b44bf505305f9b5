import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DataDirLocked, lockDataDir } from './data-dir-lock.ts';

const LOCK = new URL('./data-dir-lock.ts', import.meta.url).href;

/**
 * Another process that takes the lock and holds it until killed; resolves once it holds it. It
 * keeps no handle and collects its garbage before it says so: the lock must outlive the handle.
 */
async function holder(dir: string) {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--input-type=module',
      '-e',
      `import { lockDataDir } from '${LOCK}'; lockDataDir(process.argv[1]); globalThis.gc(); console.log('held'); setInterval(() => {}, 1000);`,
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
    child.once('exit', (code) => reject(new Error(`holder exited ${code}`)));
  });
  return child;
}

test('a data dir held by a live process is refused, naming its pid; its SIGKILL frees it at once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rewind-lock-'));
  let child: Awaited<ReturnType<typeof holder>> | undefined;
  try {
    const held = await holder(dir);
    child = held;
    const pid = held.pid;
    assert.throws(
      () => lockDataDir(dir),
      (err: unknown) =>
        err instanceof DataDirLocked &&
        err.pid === pid &&
        err.message.includes(`another rewind server (pid ${pid}) holds the data dir ${dir}`),
    );
    const exited = new Promise((resolve) => held.once('exit', resolve));
    held.kill('SIGKILL');
    await exited;
    // No stale lock: the kernel dropped it with the process.
    const lock = lockDataDir(dir);
    assert.equal(Number(readFileSync(join(dir, 'server.pid'), 'utf8')), process.pid);
    lock.release();
    lock.release();
    lockDataDir(dir).release();
  } finally {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a second lock in the same process is refused too', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rewind-lock-'));
  try {
    const lock = lockDataDir(dir);
    assert.throws(() => lockDataDir(dir), DataDirLocked);
    lock.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
