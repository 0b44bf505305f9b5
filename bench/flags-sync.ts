// Flag delivery benchmark, three parts side by side in one run:
//  1. Per evaluation, through the published OpenFeature server SDK: the flagd provider in
//     in-process mode (@openfeature/flagd-provider, fed by `rewind server`'s flagd sync listener,
//     evaluating locally with flagd-core) vs the OFREP provider (@openfeature/ofrep-provider, one
//     HTTP request to the same server per evaluation). Sequential evaluations over 4 flags (static,
//     targeted, fractional, sem_ver) and 8 contexts; µs per evaluation.
//  2. Propagation to the in-process provider: a flag is toggled through the API; the time from the
//     API call to the first local evaluation that reflects it (evaluated in a tight loop).
//  3. Propagation across two controllers on one PostgreSQL store: the toggle goes through
//     controller A, and B's OFREP is polled back to back over keep-alive HTTP until it answers the
//     new value; timed from A's API call, from A's answer and from the version's createdAt. Then
//     the mechanism alone: two FlagServices on two stores of the same database in this process,
//     from A's change resolving to B's new set in force (no HTTP, no servers).
//
//   node bench/flags-sync.ts [--evals 20000] [--cycles 30] [--json]
//
// Two controllers need PostgreSQL (REWIND_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/
// postgres, a user that may CREATE DATABASE); a fresh database is made and dropped. Everything it
// starts is stopped on exit.
import http from 'node:http';
import { FlagdProvider } from '@openfeature/flagd-provider';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { type Client, OpenFeature } from '@openfeature/server-sdk';
import { FlagService } from '../src/features/flags/flag-service.ts';
import { openStore } from '../src/store/open-store.ts';
import { createTarget } from '../test/support/db-targets.ts';
import { freePort, type Harness, oneShopConfig } from '../test/support/rewind-harness.ts';
import {
  commandLine,
  intFlag,
  machine,
  machineLine,
  nowMs,
  round,
  type Summary,
  startBenchRewind,
  summarize,
  table,
} from './lib/rewind-cycle.ts';

const APP = 'shop';
const TARGET_MS = 100;
const args = process.argv.slice(2);
const EVALS = intFlag(args, 'evals', 20_000);
const CYCLES = intFlag(args, 'cycles', 30);
const JSON_OUT = args.includes('--json');

const flagSet = (checkout: 'v1' | 'v2') => ({
  flags: {
    checkout: { state: 'ENABLED', variants: { v1: 'v1', v2: 'v2' }, defaultVariant: checkout },
    theme: {
      state: 'ENABLED',
      variants: { light: 'light', dark: 'dark' },
      defaultVariant: 'light',
      targeting: { if: [{ ends_with: [{ var: 'email' }, '@ops.io'] }, 'dark', null] },
    },
    'new-search': {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant: 'off',
      targeting: {
        fractional: [
          ['on', 20],
          ['off', 80],
        ],
      },
    },
    'fast-path': {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant: 'off',
      targeting: { if: [{ sem_ver: [{ var: 'appVersion' }, '>=', '2.1.0'] }, 'on', 'off'] },
    },
  },
});
const CONTEXTS = Array.from({ length: 8 }, (_, i) => ({
  targetingKey: `user-${i}`,
  email: i % 2 ? `u${i}@ops.io` : `u${i}@shop.io`,
  appVersion: `2.${i % 3}.0`,
}));

/** µs per evaluation over `n` sequential evaluations (one flag and context after the other). */
async function perEvaluation(client: Client, n: number): Promise<Summary> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const context = CONTEXTS[i % CONTEXTS.length]!;
    const start = performance.now();
    switch (i % 4) {
      case 0:
        await client.getStringValue('checkout', 'none', context);
        break;
      case 1:
        await client.getStringValue('theme', 'none', context);
        break;
      case 2:
        await client.getBooleanValue('new-search', false, context);
        break;
      default:
        await client.getBooleanValue('fast-path', false, context);
    }
    samples.push((performance.now() - start) * 1000);
  }
  return summarize(samples);
}

const put = (h: Harness, checkout: 'v1' | 'v2') =>
  h.fetch(`${h.apiUrl}/api/v1/apps/${APP}/flags`, {
    method: 'PUT',
    body: JSON.stringify({ document: flagSet(checkout), reason: 'bench' }),
  });

interface Propagation {
  /** From the API call that changes the flag. */
  readonly fromCall: Summary;
  /** From the API call's answer (the version is committed and in force on the writer). */
  readonly fromAnswer: Summary;
  /** From the new version's createdAt (the writer's clock, the same machine): the write excluded. */
  readonly fromVersion: Summary;
}

/** Toggles `checkout` through `writer` CYCLES times; `seen` resolves when the reader has the value. */
async function propagation(
  writer: Harness,
  seen: (value: 'v1' | 'v2') => Promise<void>,
): Promise<Propagation> {
  const fromCall: number[] = [];
  const fromAnswer: number[] = [];
  const fromVersion: number[] = [];
  for (let i = 0; i < CYCLES; i++) {
    const value = i % 2 ? 'v1' : 'v2';
    const start = performance.now();
    let answered = 0;
    const call = put(writer, value).then(async (r) => {
      answered = performance.now();
      if (r.status !== 200) throw new Error(`PUT flags: ${r.status}`);
      return ((await r.json()) as { version: number }).version;
    });
    await seen(value);
    const at = performance.now();
    const atWall = nowMs();
    const version = await call;
    const record = (await (
      await writer.fetch(`${writer.apiUrl}/api/v1/apps/${APP}/flags/versions/${version}`)
    ).json()) as { createdAt: number };
    fromCall.push(at - start);
    fromAnswer.push(Math.max(0, at - answered));
    fromVersion.push(Math.max(0, atWall - record.createdAt));
  }
  return {
    fromCall: summarize(fromCall),
    fromAnswer: summarize(fromAnswer),
    fromVersion: summarize(fromVersion),
  };
}

/** B's OFREP answer for `checkout`, over one keep-alive socket. */
function ofrepValue(h: Harness, agent: http.Agent): Promise<string | undefined> {
  const url = new URL(`${h.apiUrl}/api/v1/apps/${APP}/ofrep/v1/evaluate/flags/checkout`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
      },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve((JSON.parse(body) as { value?: string }).value));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ context: { targetingKey: 'bench' } }));
  });
}

const loadStart = machine().loadavg;
const cleanups: (() => Promise<unknown>)[] = [];
const cleanup = async () => {
  for (const c of cleanups.reverse()) await c().catch((err) => console.error('cleanup failed:', err));
};

try {
  // Parts 1 and 2: one server with the flagd sync listener.
  const syncPort = await freePort();
  const h = await startBenchRewind(
    (port) => `${oneShopConfig(port)}server:\n  flagSync: { listen: 127.0.0.1:${syncPort}, auth: none }\n`,
  );
  cleanups.push(() => h.closeOnce());
  if ((await put(h, 'v1')).status !== 200) throw new Error('cannot set the flag set');
  const base = `${h.apiUrl}/api/v1/apps/${APP}`;
  await OpenFeature.setProviderAndWait(
    'in-process',
    new FlagdProvider({ resolverType: 'in-process', host: '127.0.0.1', port: syncPort, selector: APP }),
  );
  await OpenFeature.setProviderAndWait(
    'ofrep',
    new OFREPProvider({ baseUrl: base, headers: [['authorization', `Bearer ${h.token}`]] }),
  );
  cleanups.push(() => OpenFeature.close());
  const inProcess = OpenFeature.getClient('in-process');
  const ofrep = OpenFeature.getClient('ofrep');
  // Warm both (JIT, sockets), then measure.
  await perEvaluation(inProcess, Math.min(EVALS, 2000));
  await perEvaluation(ofrep, Math.min(EVALS, 500));
  const local = await perEvaluation(inProcess, EVALS);
  const remote = await perEvaluation(ofrep, Math.max(1, Math.floor(EVALS / 10)));
  const toProvider = await propagation(h, async (value) => {
    while ((await inProcess.getStringValue('checkout', 'none', CONTEXTS[0])) !== value)
      await new Promise((r) => setImmediate(r));
  });

  // Part 3: two controllers on one PostgreSQL database.
  const db = await createTarget('postgres');
  cleanups.push(() => db.cleanup());
  const env = { env: { REWIND_DATABASE_URL: db.url } };
  const a = await startBenchRewind((port) => oneShopConfig(port), env);
  cleanups.push(() => a.closeOnce());
  const b = await startBenchRewind((port) => oneShopConfig(port), env);
  cleanups.push(() => b.closeOnce());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  cleanups.push(async () => agent.destroy());
  if ((await put(a, 'v1')).status !== 200) throw new Error('cannot set the flag set on A');
  while ((await ofrepValue(b, agent)) !== 'v1') await new Promise((r) => setTimeout(r, 20));
  const acrossControllers = await propagation(a, async (value) => {
    while ((await ofrepValue(b, agent)) !== value);
  });

  // The mechanism alone, without HTTP or servers: two FlagServices in this process, each on its own
  // store (pool + LISTEN connection) on the same database; from A's change resolving to B's new
  // set in force (B may be first: NOTIFY is sent at commit, before A's promise resolves).
  const storeA = await openStore({ url: db.url });
  const storeB = await openStore({ url: db.url });
  cleanups.push(() => Promise.all([storeA.close(), storeB.close()]));
  const serviceA = new FlagService({ store: storeA });
  const serviceB = new FlagService({ store: storeB });
  const stopFollowing = serviceB.follow();
  await serviceB.current(APP);
  await serviceA.replace(APP, flagSet('v1'), { author: 'bench' });
  while ((await serviceB.current(APP)).set.flags.checkout?.defaultVariant !== 'v1')
    await new Promise((r) => setTimeout(r, 5));
  const storeToStore: number[] = [];
  for (let i = 0; i < CYCLES; i++) {
    const inForce = new Promise<number>((resolve) => {
      const off = serviceB.onInForce(() => {
        off();
        resolve(performance.now());
      });
    });
    await serviceA.replace(APP, flagSet(i % 2 ? 'v1' : 'v2'), { author: 'bench' });
    const resolved = performance.now();
    storeToStore.push(Math.max(0, (await inForce) - resolved));
  }
  stopFollowing();
  const mechanism = summarize(storeToStore);

  const loadEnd = machine().loadavg;
  const us = (s: Summary) => [round(s.median, 2), round(s.p99, 2), round(s.mean, 2)];
  const ms = (s: Summary) => [round(s.median), round(s.p99), round(s.max)];
  const result = {
    command: commandLine(),
    evaluations: { inProcess: local, ofrep: remote },
    propagation: {
      inProcessProvider: toProvider,
      twoControllers: acrossControllers,
      storeToStore: mechanism,
    },
    machine: { cpus: machine().cpus, loadavgAtStart: loadStart, loadavgAtEnd: loadEnd },
  };
  if (JSON_OUT) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    process.stdout.write(
      [
        `per evaluation through @openfeature/server-sdk (${EVALS} in process, ${Math.max(1, Math.floor(EVALS / 10))} over OFREP, sequential)`,
        table(
          ['provider', 'p50 µs', 'p99 µs', 'mean µs'],
          [
            ['flagd in-process (flagd.sync.v1)', ...us(local)],
            ['OFREP (HTTP per evaluation)', ...us(remote)],
          ],
        ),
        `in process: ${round(remote.mean / local.mean)}x faster per evaluation (mean)`,
        '',
        `propagation of a flag change (${CYCLES} toggles; target < ${TARGET_MS} ms)`,
        table(
          ['path', 'from', 'p50 ms', 'p99 ms', 'max ms'],
          [
            ['API -> in-process provider', 'API call', ...ms(toProvider.fromCall)],
            ['API -> in-process provider', 'API answer', ...ms(toProvider.fromAnswer)],
            ['API -> in-process provider', 'version created', ...ms(toProvider.fromVersion)],
            ['controller A -> B OFREP (PostgreSQL)', 'API call', ...ms(acrossControllers.fromCall)],
            ['controller A -> B OFREP (PostgreSQL)', "A's answer", ...ms(acrossControllers.fromAnswer)],
            ['controller A -> B OFREP (PostgreSQL)', 'version created', ...ms(acrossControllers.fromVersion)],
            ['FlagService A -> B in force (no HTTP)', 'A resolved', ...ms(mechanism)],
          ],
        ),
        machineLine(result.machine),
        '',
      ].join('\n'),
    );
  }
} finally {
  await cleanup();
}
process.exit(0);
