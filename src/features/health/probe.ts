// One HTTP probe or one command check. Never throws: the outcome is data.
import { spawn } from 'node:child_process';
import { childEnv } from '../../shared/child-env.ts';
import { type ProbeResult, probeHttp } from '../../shared/http-probe.ts';
import type { Check } from '../../spec/app-spec.ts';

export function runCommand(
  command: string,
  options: {
    readonly cwd: string;
    readonly env: Record<string, string>;
    readonly timeoutMs: number;
    readonly expectExitCode: number;
  },
): Promise<ProbeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: options.cwd,
      env: { ...childEnv(), ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-2000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {}
    }, options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, detail: `${command}: ${err.message}`, ms: performance.now() - started });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      const tail = output.trim().split('\n').slice(-5).join('\n');
      if (signal)
        resolve({ ok: false, detail: `${command}: killed after ${options.timeoutMs}ms (${signal})`, ms });
      else if (code === options.expectExitCode) resolve({ ok: true, detail: `exit ${code}`, ms });
      else
        resolve({
          ok: false,
          detail: `${command}: exit ${code}, expected ${options.expectExitCode}${tail ? `\n${tail}` : ''}`,
          ms,
        });
    });
  });
}

/** Runs one pre-promotion check against a revision reached through `baseUrl` with `headers`. */
export function runCheck(
  check: Check,
  target: {
    readonly baseUrl: string;
    readonly headers: Record<string, string>;
    readonly cwd: string;
    readonly env: Record<string, string>;
  },
): Promise<ProbeResult> {
  if ('http' in check) {
    return probeHttp(`${target.baseUrl}${check.http.path}`, {
      method: check.http.method,
      expectStatus: check.http.expectStatus,
      timeoutMs: check.http.timeout,
      headers: target.headers,
    });
  }
  return runCommand(check.command, {
    cwd: target.cwd,
    env: target.env,
    timeoutMs: check.timeout,
    expectExitCode: check.expectExitCode,
  });
}

export function checkName(check: Check): string {
  return check.name ?? ('http' in check ? `GET ${check.http.path}` : check.command);
}

export { type ProbeResult, probeHttp };
