import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shapeBuilder } from './engines/fingerprint.ts';
import type { ColumnShape, ObjectKind } from './engines/types.ts';
import { diffSchemas, indexName } from './schema-diff.ts';

interface Spec {
  columns?: Record<string, Partial<ColumnShape>[]>;
  indexes?: Record<string, string[]>;
  constraints?: Record<string, string[]>;
  objects?: [ObjectKind, string, string][];
}

const col = (name: string, position: number, rest: Partial<ColumnShape> = {}): ColumnShape => ({
  name,
  position,
  type: 'integer',
  nullable: true,
  default: null,
  extra: null,
  ...rest,
});

function schema(s: Spec) {
  const b = shapeBuilder();
  for (const [t, cols] of Object.entries(s.columns ?? {}))
    for (const [i, c] of cols.entries()) b.column(t, col(c.name!, i + 1, c));
  for (const [t, lines] of Object.entries(s.indexes ?? {})) for (const l of lines) b.index(t, l);
  for (const [t, lines] of Object.entries(s.constraints ?? {})) for (const l of lines) b.constraint(t, l);
  for (const [k, n, d] of s.objects ?? []) b.object(k, n, d);
  return b.build();
}

const base: Spec = {
  columns: { users: [{ name: 'id' }, { name: 'status', type: 'varchar(20)', default: "'active'" }] },
  indexes: { users: ['CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id)'] },
  constraints: { users: ['users_pkey PRIMARY KEY (id)'] },
  objects: [['view', 'v', 'select 1']],
};

const messages = (s: Spec) => diffSchemas(schema(base), schema(s)).map((d) => d.message);

test('identical schemas have no difference', () => {
  assert.deepEqual(diffSchemas(schema(base), schema(base)), []);
});

test('each kind of difference is named: object, name, what changed, expected and actual', () => {
  const table: [string, Spec, string[]][] = [
    [
      'an index left behind',
      {
        ...base,
        indexes: {
          users: [...base.indexes!.users!, 'CREATE INDEX users_status ON public.users USING btree (status)'],
        },
      },
      [
        'index users_status on users: still there: the down did not remove it (CREATE INDEX users_status ON public.users USING btree (status))',
      ],
    ],
    [
      'a constraint missing',
      { ...base, constraints: {} },
      [
        'constraint users_pkey on users: missing: the down did not put it back (expected users_pkey PRIMARY KEY (id))',
      ],
    ],
    [
      'a default dropped and a type changed',
      {
        ...base,
        columns: {
          users: [
            { name: 'id', type: 'bigint' },
            { name: 'status', type: 'varchar(20)' },
          ],
        },
      },
      [
        'column users.id: type is bigint, expected integer',
        "column users.status: default is none, expected 'active'",
      ],
    ],
    [
      'a column re-added at the end and one left behind',
      {
        ...base,
        columns: {
          users: [
            { name: 'id' },
            { name: 'email' },
            { name: 'status', type: 'varchar(20)', default: "'active'" },
          ],
        },
      },
      [
        'column users.status: is column 3 of its table, expected 2 (re-added at another place)',
        'column users.email: still there: the down did not remove it (integer)',
      ],
    ],
    [
      'a not-null that stayed',
      { ...base, columns: { users: [{ name: 'id', nullable: false }, base.columns!.users![1]!] } },
      ['column users.id: not null, expected nullable'],
    ],
    [
      'an index redefined under the same name, a view changed, a table left behind',
      {
        ...base,
        columns: { ...base.columns, audit: [{ name: 'id' }] },
        indexes: { users: ['CREATE UNIQUE INDEX users_pkey ON public.users USING hash (id)'] },
        objects: [['view', 'v', 'select 2']],
      },
      [
        'table audit: still there: the down did not remove it (1 column(s): id)',
        'index users_pkey on users: defined as CREATE UNIQUE INDEX users_pkey ON public.users USING hash (id), expected CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id)',
        'view v: defined as select 2, expected select 1',
      ],
    ],
  ];
  for (const [name, spec, expected] of table) assert.deepEqual(messages(spec), expected, name);
});

test('index names are read from every engine’s line, and SQLite’s automatic ones have none', () => {
  assert.equal(indexName('CREATE INDEX users_email ON public.users USING btree (email)'), 'users_email');
  assert.equal(indexName('unique index users_email using BTREE (email)'), 'users_email');
  assert.equal(indexName('CREATE INDEX "odd name" ON users (email)'), '"odd name"');
  assert.equal(indexName('unique u (email)'), null);
});
