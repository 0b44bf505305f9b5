// A real Kubernetes control plane for the tests, with simulated nodes and no container runtime:
// kube-apiserver, kube-controller-manager and kube-scheduler from the k8s.io/kubernetes module,
// etcd from go.etcd.io/etcd/server, and KWOK, whose fake nodes mark the pods scheduled to them
// Running and Ready, so Deployments, ReplicaSets, Services and readiness behave as in a cluster.
//
// buildKubeBinaries() builds them once with Go from the modules in tools/kube (go.mod pins the
// versions) into a cache folder keyed by a hash of those files and the Go version, printing
// progress: a first build takes minutes, later ones nothing. startControlPlane() starts them on
// loopback ports with certificates made for the run (openssl), writes a kubeconfig for an admin
// (system:masters), creates one fake node and waits until it is Ready; stop() ends them all.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = resolve(import.meta.dirname, '../../..');
export const TOOLS = join(ROOT, 'tools/kube');

/** The commands, the Go package each is built from, and the module folder it is built in. */
const BINARIES = [
  { name: 'etcd', pkg: './cmd/etcd', dir: TOOLS },
  { name: 'kube-apiserver', pkg: 'k8s.io/kubernetes/cmd/kube-apiserver', dir: TOOLS },
  { name: 'kube-controller-manager', pkg: 'k8s.io/kubernetes/cmd/kube-controller-manager', dir: TOOLS },
  { name: 'kube-scheduler', pkg: 'k8s.io/kubernetes/cmd/kube-scheduler', dir: TOOLS },
  { name: 'kwok', pkg: 'sigs.k8s.io/kwok/cmd/kwok', dir: join(TOOLS, 'kwok') },
] as const;

export type KubeBinary = (typeof BINARIES)[number]['name'];

function goVersion(): string {
  const r = spawnSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' });
  if (r.error || r.status !== 0)
    throw new Error(
      `no Go toolchain: the Kubernetes tests build their control plane with it (go on PATH, Go ${'>='} 1.26; REWIND_KUBE_BIN may name a folder of prebuilt binaries instead)`,
    );
  return r.stdout.trim();
}

/** The cache folder of this set of versions: a hash of the modules' go.mod and go.sum and of Go's version. */
export function kubeBinDir(): string {
  if (process.env.REWIND_KUBE_BIN) return resolve(process.env.REWIND_KUBE_BIN);
  const hash = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', 'cmd/etcd/main.go', 'kwok/go.mod', 'kwok/go.sum'])
    hash.update(`${f}\n`).update(readFileSync(join(TOOLS, f)));
  hash.update(goVersion());
  const cache =
    process.env.REWIND_KUBE_CACHE ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'rewind/kube');
  return join(cache, hash.digest('hex').slice(0, 16));
}

/** Builds whatever of the five commands the cache lacks; returns the folder holding them. */
export function buildKubeBinaries(
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): string {
  const dir = kubeBinDir();
  const missing = BINARIES.filter((b) => !existsSync(join(dir, b.name)));
  if (missing.length === 0) return dir;
  if (process.env.REWIND_KUBE_BIN)
    throw new Error(`REWIND_KUBE_BIN=${dir} lacks ${missing.map((b) => b.name).join(', ')}`);
  mkdirSync(dir, { recursive: true });
  log(
    `kube: building ${missing.map((b) => b.name).join(', ')} into ${dir} (once for these versions; the first build takes minutes)`,
  );
  const started = Date.now();
  for (const [i, b] of missing.entries()) {
    const t0 = Date.now();
    log(`kube: [${i + 1}/${missing.length}] go build ${b.pkg} ...`);
    const out = join(dir, `${b.name}.tmp`);
    const r = spawnSync('go', ['build', '-trimpath', '-ldflags=-s -w', '-o', out, b.pkg], {
      cwd: b.dir,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
    });
    if (r.status !== 0) throw new Error(`go build ${b.pkg} failed (exit ${r.status}); see the output above`);
    renameSync(out, join(dir, b.name));
    log(`kube: [${i + 1}/${missing.length}] ${b.name} built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  log(`kube: built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return dir;
}

/** The Gateway API release whose CRDs the tests install (its module's config/crd). */
export const GATEWAY_API_VERSION = 'v1.6.3';

/** The folder of the Gateway API CRDs (standard channel), from the sigs.k8s.io/gateway-api module. */
export function gatewayApiCrds(): string {
  const r = spawnSync('go', ['mod', 'download', '-json', `sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION}`], {
    cwd: TOOLS,
    encoding: 'utf8',
    env: { ...process.env, GOFLAGS: '-mod=mod' },
  });
  if (r.status !== 0) throw new Error(`go mod download sigs.k8s.io/gateway-api failed: ${r.stderr}`);
  const { Dir } = JSON.parse(r.stdout) as { Dir: string };
  return join(Dir, 'config/crd/standard');
}

export interface ControlPlane {
  /** https://127.0.0.1:PORT */
  readonly server: string;
  readonly kubeconfig: string;
  readonly dir: string;
  /** The admin's credentials (kubeFetch uses them): the CA, the client certificate and its key. */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  /** The last lines each component wrote, for a failure message. */
  logs(name?: KubeBinary): string;
  stop(): Promise<void>;
}

async function freePorts(n: number): Promise<number[]> {
  const { createServer } = await import('node:net');
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<import('node:net').Server>((res, rej) => {
          const s = createServer();
          s.once('error', rej);
          s.listen(0, '127.0.0.1', () => res(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA, the API server's serving certificate, the admin's client certificate, the service-account key pair. */
function makeCerts(dir: string): Record<string, string> {
  const p = (f: string) => join(dir, f);
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=rewind-test-ca',
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.crt'),
  ]);
  const leaf = (name: string, subj: string, ext: string) => {
    writeFileSync(p(`${name}.ext`), ext);
    openssl([
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      subj,
      '-keyout',
      p(`${name}.key`),
      '-out',
      p(`${name}.csr`),
    ]);
    openssl([
      'x509',
      '-req',
      '-in',
      p(`${name}.csr`),
      '-CA',
      p('ca.crt'),
      '-CAkey',
      p('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      p(`${name}.ext`),
      '-out',
      p(`${name}.crt`),
    ]);
  };
  leaf(
    'apiserver',
    '/CN=kube-apiserver',
    'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n',
  );
  leaf('admin', '/O=system:masters/CN=rewind-test-admin', 'extendedKeyUsage=clientAuth\n');
  openssl(['genrsa', '-out', p('sa.key'), '2048']);
  openssl(['rsa', '-in', p('sa.key'), '-pubout', '-out', p('sa.pub')]);
  return {
    ca: p('ca.crt'),
    cert: p('admin.crt'),
    key: p('admin.key'),
    saKey: p('sa.key'),
    saPub: p('sa.pub'),
    serving: p('apiserver.crt'),
    servingKey: p('apiserver.key'),
  };
}

function kubeconfigText(server: string, c: Record<string, string>): string {
  const b64 = (f: string) => readFileSync(f).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: rewind-test
  cluster: { server: "${server}", certificate-authority-data: ${b64(c.ca!)} }
users:
- name: admin
  user: { client-certificate-data: ${b64(c.cert!)}, client-key-data: ${b64(c.key!)} }
contexts:
- name: rewind-test
  context: { cluster: rewind-test, user: admin, namespace: default }
current-context: rewind-test
`;
}

export interface StartOptions {
  /** Folder for certificates, the kubeconfig, etcd's data and the logs. */
  readonly dir: string;
  readonly log?: (line: string) => void;
}

/** Starts etcd, the API server, the controller manager, the scheduler and KWOK with one fake node. */
export async function startControlPlane(options: StartOptions): Promise<ControlPlane> {
  const bin = buildKubeBinaries(options.log);
  const dir = resolve(options.dir);
  mkdirSync(dir, { recursive: true });
  const certs = makeCerts(dir);
  const [etcdClient, etcdPeer, apiPort] = await freePorts(3);
  const server = `https://127.0.0.1:${apiPort}`;
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigText(server, certs), { mode: 0o600 });

  const children: { name: KubeBinary; child: ChildProcess; tail: string[] }[] = [];
  const run = (name: KubeBinary, args: string[]) => {
    const logFile = createWriteStream(join(dir, `${name}.log`));
    const child = spawn(join(bin, name), args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const entry = { name, child, tail: [] as string[] };
    const keep = (d: Buffer) => {
      logFile.write(d);
      entry.tail.push(...d.toString().split('\n').filter(Boolean));
      if (entry.tail.length > 40) entry.tail.splice(0, entry.tail.length - 40);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.once('exit', () => logFile.end());
    children.push(entry);
    return child;
  };
  const dead = () => children.find((c) => c.child.exitCode !== null)?.name;
  const logs = (name?: KubeBinary) =>
    children
      .filter((c) => !name || c.name === name)
      .map((c) => `--- ${c.name} (exit ${c.child.exitCode ?? 'running'}):\n${c.tail.join('\n')}`)
      .join('\n');
  const stop = async () => {
    // The reverse order: nothing reconciles against an API server that is going away.
    for (const { child } of [...children].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const hard = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(hard);
    }
  };
  const plane: ControlPlane = {
    server,
    kubeconfig,
    dir,
    ca: certs.ca!,
    cert: certs.cert!,
    key: certs.key!,
    logs,
    stop,
  };
  try {
    run('etcd', [
      '--data-dir',
      join(dir, 'etcd'),
      '--listen-client-urls',
      `http://127.0.0.1:${etcdClient}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${etcdClient}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster',
      `default=http://127.0.0.1:${etcdPeer}`,
      '--unsafe-no-fsync',
      '--log-level',
      'warn',
    ]);
    run('kube-apiserver', [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${certs.serving}`,
      `--tls-private-key-file=${certs.servingKey}`,
      `--client-ca-file=${certs.ca}`,
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${certs.saPub}`,
      `--service-account-signing-key-file=${certs.saKey}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--authorization-mode=Node,RBAC',
      // The kubernetes Service's endpoint would be 127.0.0.1, which the reconciler refuses; nothing here needs it.
      '--endpoint-reconciler-type=none',
      '--allow-privileged=true',
      '--profiling=false',
      '--v=0',
    ]);
    await waitUntil(
      'the API server to answer /readyz',
      async () => (await kubeFetch(plane, '/readyz')).ok,
      60_000,
      logs,
      dead,
    );
    const componentConfig = join(dir, 'components.kubeconfig');
    writeFileSync(componentConfig, readFileSync(kubeconfig));
    // Both reach the API server as the admin, serve nothing of their own, and lead alone.
    const component = [
      `--kubeconfig=${componentConfig}`,
      `--authentication-kubeconfig=${componentConfig}`,
      `--authorization-kubeconfig=${componentConfig}`,
      '--bind-address=127.0.0.1',
      '--secure-port=0',
      '--leader-elect=false',
      '--v=0',
    ];
    run('kube-controller-manager', [
      ...component,
      `--service-account-private-key-file=${certs.saKey}`,
      `--root-ca-file=${certs.ca}`,
      '--controllers=*',
    ]);
    run('kube-scheduler', component);
    run('kwok', [
      `--kubeconfig=${componentConfig}`,
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--cidr=10.244.0.1/16',
      '--node-ip=10.0.0.1',
      '--server-address=127.0.0.1:0',
    ]);
    const node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: 'kwok-node-0',
        annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
        labels: { 'kubernetes.io/hostname': 'kwok-node-0', type: 'kwok' },
      },
      status: {
        allocatable: { cpu: '64', memory: '256Gi', pods: '500' },
        capacity: { cpu: '64', memory: '256Gi', pods: '500' },
      },
    };
    const created = await kubeFetch(plane, '/api/v1/nodes', { method: 'POST', body: JSON.stringify(node) });
    if (!created.ok && created.status !== 409)
      throw new Error(`creating the fake node: ${created.status} ${await created.text()}`);
    await waitUntil(
      'the fake node to be Ready',
      async () => {
        const n = (await (await kubeFetch(plane, '/api/v1/nodes/kwok-node-0')).json()) as {
          status?: { conditions?: { type: string; status: string }[] };
        };
        return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      },
      60_000,
      logs,
      dead,
    );
    await waitUntil(
      'the default service account',
      async () => (await kubeFetch(plane, '/api/v1/namespaces/default/serviceaccounts/default')).ok,
      60_000,
      logs,
      dead,
    );
    return plane;
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitUntil(
  what: string,
  fn: () => Promise<boolean>,
  ms: number,
  logs: () => string,
  dead: () => string | undefined = () => undefined,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn().catch(() => false)) return;
    const gone = dead();
    if (gone) throw new Error(`${gone} exited while waiting for ${what}:\n${logs()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${logs()}`);
    await sleep(200);
  }
}

export interface KubeResponse {
  readonly status: number;
  readonly ok: boolean;
  text(): Promise<string>;
  json(): Promise<unknown>;
}

/** A request to the API server as the admin (client certificate), with node:https alone. */
export async function kubeFetch(
  plane: ControlPlane,
  path: string,
  init: { method?: string; body?: string; contentType?: string } = {},
): Promise<KubeResponse> {
  const { request } = await import('node:https');
  const url = new URL(path, plane.server);
  return new Promise((resolvePromise, reject) => {
    const req = request(
      url,
      {
        method: init.method ?? 'GET',
        ca: readFileSync(plane.ca),
        cert: readFileSync(plane.cert),
        key: readFileSync(plane.key),
        headers: {
          accept: 'application/json',
          ...(init.body !== undefined && { 'content-type': init.contentType ?? 'application/json' }),
        },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          resolvePromise({
            status,
            ok: status >= 200 && status < 300,
            text: async () => body,
            json: async () => JSON.parse(body) as unknown,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within 10 s`)));
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Installs the Gateway API CRDs (HTTPRoute, Gateway, ...) and waits until HTTPRoute is served. */
export async function installGatewayApi(plane: ControlPlane): Promise<void> {
  const { parseAllDocuments } = await import('yaml');
  const { readdirSync } = await import('node:fs');
  const dir = gatewayApiCrds();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const crd = doc.toJS() as { kind?: string } | null;
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      const r = await kubeFetch(plane, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
        method: 'POST',
        body: JSON.stringify(crd),
      });
      if (!r.ok && r.status !== 409) throw new Error(`installing ${file}: ${r.status} ${await r.text()}`);
    }
  }
  await waitUntil(
    'HTTPRoute to be served',
    async () =>
      (await kubeFetch(plane, '/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes')).ok,
    30_000,
    () => plane.logs('kube-apiserver'),
  );
}

/** Removes a control plane's folder (certificates, etcd's data, logs). */
export function removeControlPlaneDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
