// `rewind init --command CMD`: a commented rewind.yaml for an app, from what its command does when
// started: it must listen on the port Rewind gives it in $PORT, and the first of the usual health
// paths that answers 2xx becomes its health check. Nothing is written when the command does not
// start, does not listen, or the file exists (unless --force).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { basename, resolve } from 'node:path';
import { RewindError } from '../shared/errors.ts';
import { ephemeralPort } from '../shared/ports.ts';

/** Tried in this order; the first that answers 2xx is the health check. */
export const HEALTH_CANDIDATES = ['/healthz', '/health', '/readyz', '/ready', '/status', '/'] as const;

export interface InitOptions {
  readonly command: string;
  readonly name?: string | undefined;
  readonly listen: string;
  readonly health?: string | undefined;
  readonly file: string;
  readonly force: boolean;
  /** How long the command may take to listen, ms. */
  readonly timeoutMs: number;
}

export interface InitResult {
  readonly file: string;
  readonly name: string;
  readonly health: string;
  /** What each health path tried answered (status, or the error). */
  readonly probes: readonly { readonly path: string; readonly answer: string }[];
}

const get = (port: number, path: string): Promise<number> =>
  new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 2000 }, (res) => {
      res.resume();
      ok(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 2 s')));
    req.on('error', fail);
    req.end();
  });

/** An app name from a directory name: lower-case letters, digits and -, starting with a letter. */
export function appNameFrom(dir: string): string {
  const name = basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+$/, '')
    .slice(0, 63);
  return name || 'app';
}

/** The rewind.yaml text, commented. */
export function initYaml(o: {
  name: string;
  listen: string;
  command: string;
  health: string;
  found: string;
}): string {
  return `# rewind.yaml for ${o.name}, written by \`rewind init\`. Every key is in docs/configuration.md.
# \`rewind server\` runs it; \`rewind deploy ${o.name} --version v2 --wait\` rolls a new version out.
apps:
  - name: ${o.name}
    # Users reach the app here: Rewind's proxy listens on it and sends each request to a revision.
    listen: ${o.listen}
    # The version started first. In run.command and run.env, \${version} is the version deployed.
    initialVersion: v1
    run:
      # One instance. It gets its port in $PORT (and REWIND_APP, REWIND_REVISION, REWIND_INSTANCE).
      command: ${JSON.stringify(o.command)}
      cwd: .
      instances: 2
    health:
      # ${o.found}
      path: ${o.health}
    strategy:
      # The new revision starts beside the stable one, takes all traffic once healthy, and the
      # previous one stays warm for an instant switch back. Or canary: { steps: [...] }.
      blueGreen:
        bake: 30s
    # No rules written: the runbook's triggers apply (error rate above 5% for 5m is P0, ...), a
    # crash or "service down" rolls back at once, and a release clearly worse than the one
    # before is rolled back by the before/after judgment (docs/configuration.md, "analysis").
`;
}

export async function runInit(o: InitOptions): Promise<InitResult> {
  const file = resolve(o.file);
  if (existsSync(file) && !o.force)
    throw new RewindError(
      'VALIDATION_FAILED',
      `${o.file} exists; pass --force to replace it, or --file another path`,
    );
  const name = o.name ?? appNameFrom(process.cwd());
  const port = await ephemeralPort();
  const output: string[] = [];
  const child = spawn('/bin/sh', ['-c', o.command], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const keep = (d: Buffer) => output.push(...d.toString().split('\n').filter(Boolean));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited: string | null = null;
  child.on('exit', (code, signal) => {
    exited = code !== null ? `exited with code ${code}` : `was killed by ${signal}`;
  });
  const last = () =>
    output.length
      ? `; its last lines:\n${output
          .slice(-5)
          .map((l) => `  | ${l}`)
          .join('\n')}`
      : '';
  try {
    const probes: { path: string; answer: string }[] = [];
    const paths = o.health ? [o.health] : HEALTH_CANDIDATES;
    // Listening: any answer, or a refused connection until the deadline.
    for (const deadline = Date.now() + o.timeoutMs; ; ) {
      if (exited)
        throw new RewindError('VALIDATION_FAILED', `the command ${exited} before it listened${last()}`);
      const answered = await get(port, paths[0]!).then(
        () => true,
        () => false,
      );
      if (answered) break;
      if (Date.now() > deadline)
        throw new RewindError(
          'VALIDATION_FAILED',
          `the command did not listen on PORT=${port} within ${o.timeoutMs / 1000} s; Rewind gives each instance its port in $PORT: make the app listen on it (or pass --timeout for a slow start)${last()}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const path of paths) {
      const answer = await get(port, path).then(
        (status) => String(status),
        (err: Error) => err.message,
      );
      probes.push({ path, answer });
      if (/^2\d\d$/.test(answer)) {
        const found = o.health
          ? `Checked by \`rewind init\`: GET ${path} answered ${answer}.`
          : `Found by \`rewind init\`: GET ${path} answered ${answer}${
              probes.length > 1
                ? ` (${probes
                    .slice(0, -1)
                    .map((p) => `${p.path} ${p.answer}`)
                    .join(', ')})`
                : ''
            }.`;
        const text = initYaml({ name, listen: o.listen, command: o.command, health: path, found });
        const { parseConfig } = await import('../features/apps/load-config.ts');
        parseConfig(text, o.file);
        writeFileSync(file, text);
        return { file, name, health: path, probes };
      }
    }
    throw new RewindError(
      'VALIDATION_FAILED',
      `no health path answered 2xx (${probes.map((p) => `${p.path} ${p.answer}`).join(', ')}); pass --health PATH with one that does`,
    );
  } finally {
    await stopGroup(child, () => exited !== null);
  }
}

/** SIGTERM to the command's process group, SIGKILL if the command has not exited 2 s later. */
async function stopGroup(child: ChildProcess, hasExited: () => boolean): Promise<void> {
  const signal = (name: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, name);
    } catch {}
  };
  // The whole group: what the shell started may outlive the shell itself.
  signal('SIGTERM');
  if (hasExited()) return;
  const gone = new Promise<boolean>((ok) => child.once('exit', () => ok(true)));
  const timer = new Promise<boolean>((ok) => setTimeout(() => ok(false), 2000).unref());
  if (!(await Promise.race([gone, timer]))) signal('SIGKILL');
}
