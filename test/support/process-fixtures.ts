// Test fixtures shared by the tests of the process runtime and of the agent.

import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

export async function tempDir(prefix = 'rewind-'): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 5000,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** True when the process is gone or a zombie. */
export function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

export function processCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

export function httpGet(port: number, urlPath = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: 2000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Writes the test apps into dir and returns the command line of each. */
export function writeApps(dir: string): Record<'server' | 'crash' | 'stubborn' | 'chatty', string> {
  const node = `'${process.execPath}'`;
  const apps = {
    // Answers with its environment; logs SIGTERM and exits on it.
    server: `
      const http = require('node:http');
      const server = http.createServer((req, res) => res.end(JSON.stringify({
        pid: process.pid, port: process.env.PORT, app: process.env.REWIND_APP,
        revision: process.env.REWIND_REVISION, instance: process.env.REWIND_INSTANCE,
        extra: process.env.EXTRA ?? null,
      })));
      server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening on ' + process.env.PORT));
      process.on('SIGTERM', () => { console.log('got SIGTERM'); server.close(); process.exit(0); });
    `,
    // Prints and exits 1 soon after starting.
    crash: `
      console.log('booting');
      console.error('boom');
      setTimeout(() => process.exit(1), 30);
    `,
    // Ignores SIGTERM.
    stubborn: `
      process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
      require('node:http').createServer((q, r) => r.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');
      console.log('stubborn up');
      setInterval(() => {}, 1000);
    `,
    // Writes numbered lines to stdout and stderr, then idles.
    chatty: `
      for (let i = 0; i < 30; i++) console.log('out ' + i);
      for (let i = 0; i < 5; i++) console.error('err ' + i);
      process.stdout.write('no newline at the end');
      setInterval(() => {}, 1000);
    `,
  };
  const commands = {} as Record<keyof typeof apps, string>;
  for (const [name, source] of Object.entries(apps) as [keyof typeof apps, string][]) {
    writeFileSync(path.join(dir, `${name}.cjs`), source);
    commands[name] = `${node} ${name}.cjs`;
  }
  return commands;
}
