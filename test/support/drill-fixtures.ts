// The shop as the drill tests and bench/drill.ts rehearse it: SQLite migrations per release (v2
// brings an expand and a contract migration; v3 a down that cannot run) and a kill-switch flag.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shopConfig } from './rewind-harness.ts';

export const DRILL_MIGRATIONS: Record<string, Record<string, string>> = {
  v1: {
    '0001_create_orders.up.sql':
      "create table orders (id integer primary key, item text not null, legacy_code text);\ninsert into orders (item, legacy_code) values ('kettle', 'K1'), ('teapot', 'T1');",
    '0001_create_orders.down.sql': 'drop table orders;',
    '0002_create_customers.up.sql':
      "create table customers (id integer primary key, name text not null);\ninsert into customers (name) values ('ana'), ('bo');",
    '0002_create_customers.down.sql': 'drop table customers;',
  },
  v2: {
    '0003_add_gift_note.up.sql': 'alter table orders add column gift_note text;',
    '0003_add_gift_note.down.sql': 'alter table orders drop column gift_note;',
    '0004_drop_legacy_code.up.sql': '-- rewind:phase contract\nalter table orders drop column legacy_code;',
    '0004_drop_legacy_code.down.sql': 'alter table orders add column legacy_code text;',
  },
  // A down that cannot run: the way back of this release is broken.
  broken: {
    '0005_add_email.up.sql': 'alter table customers add column email text;',
    '0005_add_email.down.sql': 'alter table customers drop column e_mail;',
  },
};

/** releases/<version>/migrations (each version has its predecessors' migrations) and flags.json. */
export function writeDrillReleases(dir: string): void {
  const chain: Record<string, string[]> = { v1: ['v1'], v2: ['v1', 'v2'], v3: ['v1', 'broken'] };
  for (const [version, parts] of Object.entries(chain)) {
    const folder = join(dir, 'releases', version, 'migrations');
    mkdirSync(folder, { recursive: true });
    for (const part of parts)
      for (const [file, sql] of Object.entries(DRILL_MIGRATIONS[part]!))
        writeFileSync(join(folder, file), `${sql}\n`);
  }
  writeFileSync(
    join(dir, 'flags.json'),
    JSON.stringify({
      flags: {
        recommendations: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
      },
    }),
  );
}

/** rewind.yaml: the shop on SQLite (./shop.db) with an errors rule and a kill-switch rule on `recommendations`. */
export function drillShopConfig(port: number, bake = '1s'): string {
  return `${shopConfig(port, { bake })}    initialVersion: v1
    database:
      engine: sqlite
      url: ./shop.db
      migrations: ./releases/\${version}/migrations
    analysis:
      interval: 1s
      rules:
        - { name: errors, metric: errorRate, above: 50%, for: 2s, minSample: 50, severity: P0 }
        - { name: recommendations-errors, metric: errorRate, above: 50%, for: 2s, minSample: 50, severity: P1, flag: recommendations }
`;
}
