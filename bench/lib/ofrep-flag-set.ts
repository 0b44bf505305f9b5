// The flag set and contexts of the OFREP benchmarks (bench/flags.ts, bench/ofrep.ts): 20 flags,
// 10 static and 10 targeted (fractional splits, sem_ver, starts_with/ends_with, $ref, in, nested
// if), and 8 contexts that each carry a targetingKey.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
export const APP = 'shop';
export const OFREP_PATH = `/api/v1/apps/${APP}/ofrep/v1/evaluate/flags`;
export const KILL_FLAG = 'checkout-v2';

const bool = { on: true, off: false };

/** The flag set: 10 static flags, 10 targeted ones. Every context carries a targetingKey. */
export const DOCUMENT = {
  $schema: 'https://flagd.dev/schema/v0/flags.json',
  metadata: { owner: 'team-shop', flagSetId: 'bench' },
  $evaluators: {
    'pro-users': { in: [{ var: 'plan' }, ['pro', 'enterprise']] },
  },
  flags: {
    // static
    [KILL_FLAG]: { state: 'ENABLED', variants: bool, defaultVariant: 'on' },
    'promo-enabled': { state: 'ENABLED', variants: bool, defaultVariant: 'on' },
    'dark-mode': { state: 'ENABLED', variants: bool, defaultVariant: 'off' },
    'max-items': { state: 'ENABLED', variants: { few: 10, many: 100 }, defaultVariant: 'many' },
    'page-size': { state: 'ENABLED', variants: { small: 20, large: 50 }, defaultVariant: 'small' },
    'banner-text': {
      state: 'ENABLED',
      variants: { sale: 'Winter sale', none: '' },
      defaultVariant: 'sale',
      metadata: { owner: 'marketing' },
    },
    'search-backend': {
      state: 'ENABLED',
      variants: { solr: 'solr', os: 'opensearch' },
      defaultVariant: 'os',
    },
    'log-level': { state: 'ENABLED', variants: { info: 'info', debug: 'debug' }, defaultVariant: 'info' },
    theme: {
      state: 'ENABLED',
      variants: { dark: { bg: '#000', fg: '#eee' }, light: { bg: '#fff', fg: '#111' } },
      defaultVariant: 'light',
    },
    'retry-policy': {
      state: 'ENABLED',
      variants: { std: { retries: 3, backoffMs: 100 }, none: { retries: 0, backoffMs: 0 } },
      defaultVariant: 'std',
    },
    // targeted
    'new-checkout-split': {
      state: 'ENABLED',
      variants: bool,
      defaultVariant: 'off',
      targeting: {
        fractional: [
          ['on', 50],
          ['off', 50],
        ],
      },
    },
    'button-color': {
      state: 'ENABLED',
      variants: { red: 'red', green: 'green', blue: 'blue' },
      defaultVariant: 'red',
      targeting: {
        fractional: [
          ['red', 10],
          ['green', 20],
          ['blue', 70],
        ],
      },
    },
    'by-email-split': {
      state: 'ENABLED',
      variants: bool,
      defaultVariant: 'off',
      targeting: { fractional: [{ var: 'email' }, ['on', 25], ['off', 75]] },
    },
    'new-api': {
      state: 'ENABLED',
      variants: bool,
      defaultVariant: 'off',
      targeting: { if: [{ sem_ver: [{ var: 'appVersion' }, '>=', '2.1.0'] }, 'on', 'off'] },
    },
    'same-major': {
      state: 'ENABLED',
      variants: bool,
      defaultVariant: 'off',
      targeting: { if: [{ sem_ver: [{ var: 'appVersion' }, '^', '3.0.0'] }, 'on', 'off'] },
    },
    'staff-tools': {
      state: 'ENABLED',
      variants: bool,
      defaultVariant: 'off',
      targeting: {
        if: [
          { or: [{ ends_with: [{ var: 'email' }, '@shop.io'] }, { starts_with: [{ var: 'email' }, 'qa+'] }] },
          'on',
          'off',
        ],
      },
    },
    'pro-banner': {
      state: 'ENABLED',
      variants: bool,
      defaultVariant: 'off',
      targeting: { if: [{ $ref: 'pro-users' }, 'on'] },
    },
    'eu-pricing': {
      state: 'ENABLED',
      variants: { eur: 'EUR', usd: 'USD' },
      defaultVariant: 'usd',
      targeting: { if: [{ in: [{ var: 'region' }, ['eu-west', 'eu-central', 'eu-north']] }, 'eur', 'usd'] },
    },
    'beta-program': {
      state: 'ENABLED',
      variants: { yes: 2, no: 0 },
      defaultVariant: 'no',
      targeting: {
        if: [
          { and: [{ '==': [{ var: 'beta' }, true] }, { sem_ver: [{ var: 'appVersion' }, '>=', '2.0.0'] }] },
          'yes',
          'no',
        ],
      },
    },
    'rollout-by-plan': {
      state: 'ENABLED',
      variants: bool,
      defaultVariant: 'off',
      targeting: {
        if: [
          { '==': [{ var: 'plan' }, 'enterprise'] },
          {
            fractional: [
              ['on', 90],
              ['off', 10],
            ],
          },
          {
            fractional: [
              ['on', 20],
              ['off', 80],
            ],
          },
        ],
      },
    },
  },
};

export const CONTEXTS: Record<string, unknown>[] = [
  {
    targetingKey: 'user-1',
    email: 'ann@shop.io',
    appVersion: '2.3.1',
    plan: 'pro',
    region: 'eu-west',
    beta: true,
  },
  { targetingKey: 'user-2', email: 'bob@example.com', appVersion: '1.9.0', plan: 'free', region: 'us-east' },
  { targetingKey: 'user-3', email: 'qa+7@example.com', appVersion: 'v3.1.0', plan: 'enterprise', beta: true },
  {
    targetingKey: 'user-4',
    email: 'cy@example.org',
    appVersion: '3.0.0-rc.1',
    plan: 'pro',
    region: 'ap-south',
  },
  {
    targetingKey: 'user-5',
    email: 'di@shop.io',
    appVersion: '2.0.0',
    plan: 'free',
    region: 'eu-north',
    beta: false,
  },
  { targetingKey: 'user-6', appVersion: '4.2', plan: 'enterprise', region: 'eu-central' },
  { targetingKey: 'user-7', email: 'ed@example.com', plan: 'team', region: 'us-west', beta: true },
  { targetingKey: 'user-8', email: 'fi@example.net', appVersion: '2.1.0', plan: 'pro', region: 'eu-west' },
];

export const ALL_KEYS = Object.keys(DOCUMENT.flags);

/** The peer: flagd-core behind a bare node:http server (`bench/flags.ts --peer-server`), its own process. */
export async function startOfrepPeer(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [join(import.meta.dirname, '..', 'flags.ts'), '--peer-server'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /ready (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`peer server exited ${code}: ${out}`)));
  });
  return { child, port };
}
