import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeTableName, splitStatements, stripComments } from './sql-split.ts';
import type { DatabaseEngineName } from './types.ts';

type Split = [sql: string, line: number][];

const splitCases: { name: string; engine: DatabaseEngineName; sql: string; want: Split }[] = [
  {
    name: 'plain statements, trailing one without a terminator',
    engine: 'postgres',
    sql: 'CREATE TABLE a (id int);\nCREATE TABLE b (id int)',
    want: [
      ['CREATE TABLE a (id int)', 1],
      ['CREATE TABLE b (id int)', 2],
    ],
  },
  {
    name: 'empty statements and whitespace are dropped',
    engine: 'postgres',
    sql: ';;\n  \n;SELECT 1;\n\n',
    want: [['SELECT 1', 3]],
  },
  {
    name: 'semicolon inside a single-quoted string with doubled quotes',
    engine: 'postgres',
    sql: "INSERT INTO t VALUES ('it''s; fine');\nSELECT 2;",
    want: [
      ["INSERT INTO t VALUES ('it''s; fine')", 1],
      ['SELECT 2', 2],
    ],
  },
  {
    name: 'semicolon inside a double-quoted identifier',
    engine: 'postgres',
    sql: 'CREATE TABLE "odd;name" ("a""b;" int); SELECT 1',
    want: [
      ['CREATE TABLE "odd;name" ("a""b;" int)', 1],
      ['SELECT 1', 1],
    ],
  },
  {
    name: 'line comments: leading ones dropped, inner ones kept, ; inside ignored',
    engine: 'postgres',
    sql: '-- rewind:phase expand\n-- a; b\nALTER TABLE t -- why; because\n  ADD COLUMN c int;\n-- only a comment;\n',
    want: [['ALTER TABLE t -- why; because\n  ADD COLUMN c int', 3]],
  },
  {
    name: 'block comments, nested on postgres',
    engine: 'postgres',
    sql: '/* outer /* inner; */ still; comment */ SELECT 1;\n/* x */',
    want: [['SELECT 1', 1]],
  },
  {
    name: 'block comments do not nest on mysql',
    engine: 'mysql',
    sql: '/* a /* b */ SELECT 1; */',
    want: [
      ['SELECT 1', 1],
      ['*/', 1],
    ],
  },
  {
    name: 'dollar-quoted function body',
    engine: 'postgres',
    sql: [
      'CREATE FUNCTION f() RETURNS trigger AS $$',
      'BEGIN',
      "  NEW.x := 'a;b'; RETURN NEW;",
      'END;',
      '$$ LANGUAGE plpgsql;',
      'SELECT 1;',
    ].join('\n'),
    want: [
      [
        "CREATE FUNCTION f() RETURNS trigger AS $$\nBEGIN\n  NEW.x := 'a;b'; RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql",
        1,
      ],
      ['SELECT 1', 6],
    ],
  },
  {
    name: 'tagged dollar quotes hold $$ inside',
    engine: 'postgres',
    sql: 'DO $body$ BEGIN PERFORM $$x;$$; END $body$;\nSELECT $1;',
    want: [
      ['DO $body$ BEGIN PERFORM $$x;$$; END $body$', 1],
      ['SELECT $1', 2],
    ],
  },
  {
    name: 'E-strings take backslash escapes on postgres',
    engine: 'postgres',
    sql: "SELECT E'a\\';b'; SELECT 'c\\'; SELECT 3;",
    want: [
      ["SELECT E'a\\';b'", 1],
      ["SELECT 'c\\'", 1],
      ['SELECT 3', 1],
    ],
  },
  {
    name: 'mysql: backticks, backslash escapes, # comments, double-quoted strings',
    engine: 'mysql',
    sql: "# header; note\nINSERT INTO `a;b` VALUES ('x\\';y', \"q;\");\nSELECT 1 --; not a comment\n;",
    want: [
      ["INSERT INTO `a;b` VALUES ('x\\';y', \"q;\")", 2],
      ['SELECT 1 --', 3],
      ['not a comment', 3],
    ],
  },
  {
    name: 'mysql: -- followed by a space is a comment',
    engine: 'mysql',
    sql: 'SELECT 1; -- done; really\nSELECT 2;',
    want: [
      ['SELECT 1', 1],
      ['SELECT 2', 2],
    ],
  },
  {
    name: 'sqlite: backtick and bracket identifiers, $ is not a dollar quote',
    engine: 'sqlite',
    sql: 'CREATE TABLE [a;b] (`c;d` int);\nSELECT $x; SELECT 2',
    want: [
      ['CREATE TABLE [a;b] (`c;d` int)', 1],
      ['SELECT $x', 2],
      ['SELECT 2', 2],
    ],
  },
  {
    name: 'start line skips leading comments and blank lines; CRLF files',
    engine: 'postgres',
    sql: 'SELECT 1;\r\n\r\n/* a\r\nb */\r\n  -- c\r\n  DROP TABLE x;\r\n',
    want: [
      ['SELECT 1', 1],
      ['DROP TABLE x', 6],
    ],
  },
  {
    name: 'unterminated string runs to the end',
    engine: 'postgres',
    sql: "SELECT 'abc; SELECT 2",
    want: [["SELECT 'abc; SELECT 2", 1]],
  },
  // Issue 11 (7): compound bodies are one statement.
  {
    name: 'mysql: a trigger body BEGIN ... END with IF and CASE blocks',
    engine: 'mysql',
    sql:
      'CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN\n  IF NEW.x IS NULL THEN SET NEW.x = 1; END IF;\n' +
      "  SET NEW.y = CASE WHEN NEW.x > 1 THEN 'b' ELSE 'a' END;\nEND;\nSELECT IF(1, 2, 3);",
    want: [
      [
        'CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN\n  IF NEW.x IS NULL THEN SET NEW.x = 1; END IF;\n' +
          "  SET NEW.y = CASE WHEN NEW.x > 1 THEN 'b' ELSE 'a' END;\nEND",
        1,
      ],
      ['SELECT IF(1, 2, 3)', 5],
    ],
  },
  {
    name: 'mysql: a procedure with LOOP, WHILE, REPEAT; DROP ... IF EXISTS before it',
    engine: 'mysql',
    sql:
      'DROP PROCEDURE IF EXISTS p;\nCREATE DEFINER=`root`@`%` PROCEDURE p() BEGIN\n  l: LOOP LEAVE l; END LOOP;\n' +
      '  WHILE 0 DO SELECT 1; END WHILE;\n  REPEAT SELECT 2; UNTIL 1 END REPEAT;\nEND;',
    want: [
      ['DROP PROCEDURE IF EXISTS p', 1],
      [
        'CREATE DEFINER=`root`@`%` PROCEDURE p() BEGIN\n  l: LOOP LEAVE l; END LOOP;\n' +
          '  WHILE 0 DO SELECT 1; END WHILE;\n  REPEAT SELECT 2; UNTIL 1 END REPEAT;\nEND',
        2,
      ],
    ],
  },
  {
    name: 'mysql: DELIMITER lines change the terminator',
    engine: 'mysql',
    sql: 'DELIMITER $$\nCREATE FUNCTION f() RETURNS INT BEGIN RETURN 1; END$$\nDELIMITER ;\nSELECT f();',
    want: [
      ['CREATE FUNCTION f() RETURNS INT BEGIN RETURN 1; END', 2],
      ['SELECT f()', 4],
    ],
  },
  {
    name: 'mariadb: BEGIN NOT ATOMIC block',
    engine: 'mysql',
    sql: 'BEGIN NOT ATOMIC\n  UPDATE a SET x = 1;\n  UPDATE b SET y = 2;\nEND;\nSELECT 1;',
    want: [
      ['BEGIN NOT ATOMIC\n  UPDATE a SET x = 1;\n  UPDATE b SET y = 2;\nEND', 1],
      ['SELECT 1', 5],
    ],
  },
  {
    name: 'sqlite: a trigger body',
    engine: 'sqlite',
    sql: 'CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE b SET n = n + 1;\n  DELETE FROM c;\nEND;\nSELECT 1;',
    want: [
      ['CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE b SET n = n + 1;\n  DELETE FROM c;\nEND', 1],
      ['SELECT 1', 5],
    ],
  },
  {
    name: 'postgres: a BEGIN ATOMIC function body',
    engine: 'postgres',
    sql: 'CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND;\nSELECT 3;',
    want: [
      ['CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND', 1],
      ['SELECT 3', 6],
    ],
  },
  {
    name: 'a statement starting with a string starts there',
    engine: 'postgres',
    sql: "\n\n'x';",
    want: [["'x'", 3]],
  },
];

for (const c of splitCases) {
  test(`splitStatements: ${c.name}`, () => {
    const got = splitStatements(c.sql, c.engine).map((s): [string, number] => [s.sql, s.line]);
    assert.deepEqual(got, c.want);
  });
}

const stripCases: { name: string; engine?: DatabaseEngineName; sql: string; want: string }[] = [
  { name: 'line comment', sql: 'SELECT 1 -- x\nFROM t', want: 'SELECT 1  \nFROM t' },
  { name: 'block comment keeps its line breaks', sql: 'a/* x\ny */b', want: 'a \nb' },
  { name: 'nested block comment', sql: 'a /* 1 /* 2 */ 3 */ b', want: 'a   b' },
  {
    name: 'comment markers inside strings stay',
    sql: "SELECT '--x', '/*y*/'",
    want: "SELECT '--x', '/*y*/'",
  },
  { name: 'mysql # comment', engine: 'mysql', sql: 'SELECT 1 # c\n', want: 'SELECT 1  \n' },
];

for (const c of stripCases) {
  test(`stripComments: ${c.name}`, () => {
    assert.equal(stripComments(c.sql, c.engine), c.want);
  });
}

const nameCases: [raw: string, want: string][] = [
  ['orders', 'orders'],
  ['public.orders', 'orders'],
  ['"Public"."Order Items"', 'order items'],
  ['`shop`.`Orders`', 'orders'],
  ['[main].[t]', 't'],
  ['"a.b"', 'a.b'],
  ['"say ""hi"""', 'say "hi"'],
];

for (const [raw, want] of nameCases) {
  test(`normalizeTableName: ${raw}`, () => {
    assert.equal(normalizeTableName(raw), want);
  });
}
