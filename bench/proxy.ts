// Proxy benchmark: wrk against the backend directly, nginx, haproxy and Rewind's data plane, all
// with the same 90/10 split over two backend processes and upstream keep-alive.
//
//   node bench/proxy.ts [--duration 10] [--connections 50,200] [--workers N] [--threads 2] [--rounds 1]
//                       [--warmup 2] [--only nginx,rewind] [--json]
//
// Everything it starts is killed on exit. Load goes to 127.0.0.1 only.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { treeCpuMs } from './lib/proc-cpu.ts';

const here = dirname(fileURLToPath(import.meta.url));

interface Args {
  duration: number;
  connections: number[];
  workers: number;
  threads: number;
  warmup: number;
  rounds: number;
  json: boolean;
  only: string[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    duration: 10,
    connections: [50, 200],
    workers: availableParallelism(),
    threads: 2,
    warmup: 2,
    rounds: 1,
    json: false,
    only: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1] ?? '';
    if (k === '--duration') a.duration = Number(argv[++i] ?? v);
    else if (k === '--connections')
      a.connections = String(argv[++i] ?? v)
        .split(',')
        .map(Number);
    else if (k === '--workers') a.workers = Number(argv[++i] ?? v);
    else if (k === '--threads') a.threads = Number(argv[++i] ?? v);
    else if (k === '--warmup') a.warmup = Number(argv[++i] ?? v);
    else if (k === '--rounds') a.rounds = Math.max(1, Number(argv[++i] ?? v));
    else if (k === '--only') a.only = String(argv[++i] ?? v).split(',');
    else if (k === '--json') a.json = true;
    else if (k === '--help' || k === '-h') {
      console.log(
        'node bench/proxy.ts [--duration 10] [--connections 50,200] [--workers N] [--threads 2] [--json]',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

const children: ChildProcess[] = [];
let tmp = '';

function cleanup(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      // Each child leads its own process group: this also reaches nginx's worker processes.
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {}
      }
    }
  }
  if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function start(cmd: string, args: string[], readyLine?: RegExp): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (readyLine?.test(out)) resolve(child);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => {
      if (readyLine === undefined) console.error(`${cmd} exited (${code}): ${out}`);
      reject(new Error(`${cmd} exited (${code}): ${out}`));
    });
    child.on('error', reject);
    if (readyLine === undefined) resolve(child);
  });
}

async function waitPort(port: number, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`port ${port} not open`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  non2xx: number;
}

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v.trim());
  if (m === null) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60000;
}

function wrk(port: number, conns: number, duration: number, threads: number): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const args = [
      `-t${Math.min(threads, conns)}`,
      `-c${conns}`,
      `-d${duration}s`,
      '--latency',
      `http://127.0.0.1:${port}/`,
    ];
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) {
        reject(new Error(`wrk failed: ${out}`));
        return;
      }
      const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? 0);
      const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      resolve({
        rps: num(/Requests\/sec:\s+([\d.]+)/),
        p50: toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? ''),
        p99: toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? ''),
        requests: num(/(\d+) requests in/),
        errors: errs === null ? 0 : errs.slice(1).reduce((a, x) => a + Number(x), 0),
        non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
      });
    });
  });
}

interface Target {
  name: string;
  port: number;
  pid: number | undefined;
}

interface Row {
  target: string;
  connections: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  cpuSeconds: number | null;
  requestsPerCpuSecond: number | null;
  errors: number;
  non2xx: number;
  rpsVsNginx: number | null;
  p99VsNginx: number | null;
  /** Requests per CPU-second relative to nginx's (the efficiency goal: >= 0.8x). */
  cpuVsNginx: number | null;
  rpsVsHaproxy: number | null;
}

function nginxConf(dir: string, port: number, a: number, b: number): string {
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream app {
    server 127.0.0.1:${a} weight=9;
    server 127.0.0.1:${b} weight=1;
    keepalive 512;
  }
  server {
    listen 127.0.0.1:${port} reuseport;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering on;
    }
  }
}
`;
}

function haproxyConf(port: number, a: number, b: number): string {
  return `global
  maxconn 8000
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  balance roundrobin
  server a 127.0.0.1:${a} weight 90
  server b 127.0.0.1:${b} weight 10
`;
}

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!has('wrk')) throw new Error('wrk not found (apt-get install -y wrk)');
  tmp = mkdtempSync(join(tmpdir(), 'rewind-bench-'));
  const log = (m: string): void => {
    if (!args.json) console.error(m);
  };

  const [pa, pb] = [await freePort(), await freePort()];
  const backendScript = join(here, 'lib', 'fast-backend.ts');
  await start(process.execPath, [backendScript, String(pa), 'rev1'], /ready/);
  await start(process.execPath, [backendScript, String(pb), 'rev2'], /ready/);

  const targets: Target[] = [{ name: 'direct', port: pa, pid: undefined }];

  if (has('nginx')) {
    const port = await freePort();
    const conf = join(tmp, 'nginx.conf');
    writeFileSync(conf, nginxConf(tmp, port, pa, pb));
    const c = await start('nginx', [
      '-p',
      tmp,
      '-e',
      join(tmp, 'nginx-error.log'),
      '-c',
      conf,
      '-g',
      'daemon off;',
    ]);
    await waitPort(port);
    targets.push({ name: 'nginx', port, pid: c.pid });
  } else log('nginx not found: skipped');

  if (has('haproxy')) {
    const port = await freePort();
    const conf = join(tmp, 'haproxy.cfg');
    writeFileSync(conf, haproxyConf(port, pa, pb));
    const c = await start('haproxy', ['-f', conf, '-db']);
    await waitPort(port);
    targets.push({ name: 'haproxy', port, pid: c.pid });
  } else log('haproxy not found: skipped');

  {
    const port = await freePort();
    const c = await start(
      process.execPath,
      [join(here, 'lib', 'rewind-child.ts'), String(port), String(pa), String(pb), String(args.workers)],
      /ready/,
    );
    targets.push({ name: `rewind(${args.workers}w)`, port, pid: c.pid });
  }

  const selected =
    args.only.length > 0 ? targets.filter((t) => args.only.some((o) => t.name.startsWith(o))) : targets;
  // With several rounds, targets are interleaved and the round with the median req/s is kept
  // (the machine may be shared: interleaving spreads any background load over every target).
  const samples = new Map<string, Row[]>();
  for (let round = 0; round < args.rounds; round++) {
    for (const conns of args.connections) {
      for (const t of selected) {
        if (args.warmup > 0) await wrk(t.port, conns, args.warmup, args.threads);
        const cpu0 = t.pid === undefined ? 0 : treeCpuMs(t.pid);
        const t0 = performance.now();
        const r = await wrk(t.port, conns, args.duration, args.threads);
        const wall = (performance.now() - t0) / 1000;
        const cpu = t.pid === undefined ? null : (treeCpuMs(t.pid) - cpu0) / 1000;
        log(
          `${t.name} c=${conns}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, cpu ${cpu?.toFixed(2)} s/${wall.toFixed(1)} s`,
        );
        const key = `${t.name}@${conns}`;
        if (!samples.has(key)) samples.set(key, []);
        samples.get(key)?.push({
          target: t.name,
          connections: conns,
          rps: r.rps,
          p50Ms: r.p50,
          p99Ms: r.p99,
          cpuSeconds: cpu,
          requestsPerCpuSecond: cpu === null || cpu === 0 ? null : r.requests / cpu,
          errors: r.errors,
          non2xx: r.non2xx,
          rpsVsNginx: null,
          p99VsNginx: null,
          cpuVsNginx: null,
          rpsVsHaproxy: null,
        });
      }
    }
  }
  const rows: Row[] = [];
  for (const list of samples.values()) {
    const sorted = [...list].sort((x, y) => x.rps - y.rps);
    rows.push(sorted[Math.floor((sorted.length - 1) / 2)] as Row);
  }
  for (const row of rows) {
    const ng = rows.find((r) => r.target === 'nginx' && r.connections === row.connections);
    if (ng !== undefined && ng.rps > 0) {
      row.rpsVsNginx = row.rps / ng.rps;
      row.p99VsNginx = row.p99Ms / ng.p99Ms;
      if (row.requestsPerCpuSecond !== null && ng.requestsPerCpuSecond)
        row.cpuVsNginx = row.requestsPerCpuSecond / ng.requestsPerCpuSecond;
    }
    const hp = rows.find((r) => r.target === 'haproxy' && r.connections === row.connections);
    if (hp !== undefined && hp.rps > 0) row.rpsVsHaproxy = row.rps / hp.rps;
  }

  if (args.json) {
    console.log(
      JSON.stringify(
        {
          duration: args.duration,
          rounds: args.rounds,
          threads: args.threads,
          rewindWorkers: args.workers,
          cpus: availableParallelism(),
          rows,
        },
        null,
        2,
      ),
    );
    return;
  }
  const header = [
    'target',
    'conns',
    'req/s',
    'p50 ms',
    'p99 ms',
    'req/CPU-s',
    'errors',
    'vs nginx',
    'p99 vs nginx',
    'req/CPU-s vs nginx',
    'vs haproxy',
  ];
  const lines = rows.map((r) => [
    r.target,
    String(r.connections),
    r.rps.toFixed(0),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    r.requestsPerCpuSecond === null ? '-' : r.requestsPerCpuSecond.toFixed(0),
    String(r.errors + r.non2xx),
    r.rpsVsNginx === null ? '-' : `${r.rpsVsNginx.toFixed(2)}x`,
    r.p99VsNginx === null ? '-' : `${r.p99VsNginx.toFixed(2)}x`,
    r.cpuVsNginx === null ? '-' : `${r.cpuVsNginx.toFixed(2)}x`,
    r.rpsVsHaproxy === null ? '-' : `${r.rpsVsHaproxy.toFixed(2)}x`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  const fmt = (cols: string[]): string => cols.map((c, i) => c.padStart(widths[i] as number)).join('  ');
  console.log(
    `wrk -t${args.threads}, ${args.duration}s per run, median of ${args.rounds} round(s), 90/10 split over two backends, ${availableParallelism()} CPUs`,
  );
  console.log(fmt(header));
  for (const l of lines) console.log(fmt(l));
}

main().then(
  () => {
    cleanup();
    process.exit(0);
  },
  (err: unknown) => {
    console.error(err);
    cleanup();
    process.exit(1);
  },
);
