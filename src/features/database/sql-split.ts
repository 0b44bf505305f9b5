// A lexer just deep enough to cut a migration file into statements: it knows where strings,
// quoted identifiers, dollar-quoted bodies and comments start and end, so a `;` inside any of
// them never ends a statement. Everything else is left to the database.
import type { DatabaseEngineName, SqlStatement } from './types.ts';

export type SqlRegionKind = 'code' | 'comment' | 'string' | 'identifier';

/** A slice [start, end) of the text; the regions of one text are contiguous and cover it. */
export interface SqlRegion {
  readonly kind: SqlRegionKind;
  readonly start: number;
  readonly end: number;
}

/**
 * Cuts `sql` into code, comment, string-literal and quoted-identifier regions. Unterminated
 * quotes and comments run to the end of the text (the database reports them, not us).
 */
export function scanSql(sql: string, engine: DatabaseEngineName): SqlRegion[] {
  const regions: SqlRegion[] = [];
  const n = sql.length;
  let codeStart = 0;
  let i = 0;
  const push = (kind: SqlRegionKind, start: number, end: number) => {
    if (codeStart < start) regions.push({ kind: 'code', start: codeStart, end: start });
    regions.push({ kind, start, end });
    codeStart = end;
    i = end;
  };
  while (i < n) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === '-' && next === '-' && (engine !== 'mysql' || isMysqlCommentGap(sql[i + 2]))) {
      push('comment', i, lineEnd(sql, i));
    } else if (c === '#' && engine === 'mysql') {
      push('comment', i, lineEnd(sql, i));
    } else if (c === '/' && next === '*') {
      push('comment', i, blockCommentEnd(sql, i, engine === 'postgres'));
    } else if (c === "'") {
      const backslash = engine === 'mysql' || (engine === 'postgres' && isEscapeStringPrefix(sql, i));
      push('string', i, quotedEnd(sql, i, "'", backslash));
    } else if (c === '"') {
      // MySQL (without ANSI_QUOTES) reads "..." as a string with backslash escapes.
      const mysql = engine === 'mysql';
      push(mysql ? 'string' : 'identifier', i, quotedEnd(sql, i, '"', mysql));
    } else if (c === '`' && engine !== 'postgres') {
      push('identifier', i, quotedEnd(sql, i, '`', false));
    } else if (c === '[' && engine === 'sqlite') {
      const close = sql.indexOf(']', i + 1);
      push('identifier', i, close === -1 ? n : close + 1);
    } else if (c === '$' && engine === 'postgres' && !isIdentifierChar(sql[i - 1])) {
      const tag = dollarTagAt(sql, i);
      if (tag === null) {
        i++;
      } else {
        const close = sql.indexOf(tag, i + tag.length);
        push('string', i, close === -1 ? n : close + tag.length);
      }
    } else {
      i++;
    }
  }
  if (codeStart < n) regions.push({ kind: 'code', start: codeStart, end: n });
  return regions;
}

/**
 * The statements of a SQL file, in order: text trimmed and without its terminator, comments
 * inside it kept, comments before it dropped; `line` is the 1-based line of its first character.
 * Statements that are only comments or whitespace are left out.
 *
 * A `;` inside a compound body does not end the statement: `BEGIN ... END` of a MySQL/MariaDB
 * trigger, procedure, function or event (with its IF/LOOP/WHILE/REPEAT/CASE blocks), a MariaDB
 * `BEGIN NOT ATOMIC` block, a SQLite trigger, a PostgreSQL `BEGIN ATOMIC` function body. MySQL's
 * client `DELIMITER xx` lines change the terminator until the next `DELIMITER ;`.
 */
export function splitStatements(sql: string, engine: DatabaseEngineName): SqlStatement[] {
  const statements: SqlStatement[] = [];
  let first = -1; // index of the current statement's first non-comment, non-space char
  let line = 1;
  let lineAt = 0; // `line` is the line of index `lineAt`
  const lineOf = (index: number) => {
    for (; lineAt < index; lineAt++) if (sql.charCodeAt(lineAt) === 10) line++;
    return line;
  };
  let delimiter = ';';
  let depth = 0; // open compound blocks of the current statement
  let compound: boolean | null = null; // whether the current statement may hold blocks (null: not known yet)
  let skipWord = false; // the word after END (END IF, END LOOP ...) closes, it does not open
  const finish = (end: number) => {
    if (first !== -1) statements.push({ sql: sql.slice(first, end).trim(), line: lineOf(first) });
    first = -1;
    depth = 0;
    compound = null;
    skipWord = false;
  };
  for (const region of scanSql(sql, engine)) {
    if (region.kind === 'comment') continue;
    if (region.kind !== 'code') {
      if (first === -1) first = region.start;
      continue;
    }
    let i = region.start;
    while (i < region.end) {
      const c = sql[i]!;
      if (engine === 'mysql' && first === -1 && /^delimiter\s/i.test(sql.slice(i, i + 10))) {
        // A client command, not SQL: the rest of the line names the new terminator.
        const eol = lineEnd(sql, i);
        delimiter = sql.slice(i + 9, eol).trim() || ';';
        i = eol;
        continue;
      }
      if (depth === 0 && sql.startsWith(delimiter, i)) {
        finish(i);
        i += delimiter.length;
        continue;
      }
      if (isSpace(c)) {
        i++;
        continue;
      }
      if (first === -1) first = i;
      if (!isIdentifierChar(c) || (i > region.start && isIdentifierChar(sql[i - 1]))) {
        i++;
        continue;
      }
      let j = i;
      while (j < region.end && isIdentifierChar(sql[j]) && !sql.startsWith(delimiter, j)) j++;
      const word = sql.slice(i, j).toUpperCase();
      if (compound === null)
        compound = mayHoldBlocks(sql.slice(first, Math.min(sql.length, first + 400)), engine);
      if (compound && delimiter === ';') {
        if (skipWord) skipWord = false;
        else if (word === 'END') {
          depth = Math.max(0, depth - 1);
          skipWord = /^\s+(?:IF|LOOP|WHILE|REPEAT|CASE)\b/i.test(sql.slice(j, j + 10));
        } else if (opensBlock(word, sql.slice(j, j + 20), engine)) depth++;
      }
      i = j;
    }
  }
  finish(sql.length);
  return statements;
}

/** Statements whose body may hold `BEGIN ... END` blocks with `;` inside. */
function mayHoldBlocks(head: string, engine: DatabaseEngineName): boolean {
  const text = head.replace(/\s+/g, ' ');
  if (engine === 'postgres')
    return /^CREATE (?:OR REPLACE )?(?:FUNCTION|PROCEDURE)\b.*\bBEGIN ATOMIC\b/i.test(text);
  if (engine === 'sqlite') return /^CREATE (?:TEMP |TEMPORARY )?TRIGGER\b/i.test(text);
  return (
    /^BEGIN NOT ATOMIC\b/i.test(text) ||
    /^CREATE (?:OR REPLACE )?(?:DEFINER ?= ?\S+ )?(?:(?:AGGREGATE )?FUNCTION|PROCEDURE|TRIGGER|EVENT)\b/i.test(
      text,
    )
  );
}

function opensBlock(word: string, after: string, engine: DatabaseEngineName): boolean {
  if (word === 'BEGIN' || word === 'CASE') return true;
  if (engine !== 'mysql') return false;
  if (word === 'LOOP' || word === 'REPEAT') return true;
  if (word === 'WHILE') return true;
  // IF ... THEN opens a block; IF(...) is a function, IF [NOT] EXISTS a clause.
  return word === 'IF' && !/^\s*(?:\(|NOT\s+EXISTS\b|EXISTS\b)/i.test(after);
}

/**
 * `sql` without its comments. Each comment becomes one space (so `a/*x*\/b` stays two tokens)
 * followed by the line breaks it held, so line numbers still match the original.
 */
export function stripComments(sql: string, engine: DatabaseEngineName = 'postgres'): string {
  let out = '';
  for (const region of scanSql(sql, engine)) {
    const text = sql.slice(region.start, region.end);
    out += region.kind === 'comment' ? ` ${text.replace(/[^\n]/g, '')}` : text;
  }
  return out;
}

/**
 * A table name as written (`public."Orders"`, `` `shop`.`orders` ``, `orders`) reduced to the
 * name alone: schema prefix dropped, quotes removed, lower-cased.
 */
export function normalizeTableName(raw: string): string {
  const parts = raw.trim().match(/"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]|[^."`[\s]+/g) ?? [];
  const last = parts.at(-1) ?? raw.trim();
  return unquoteIdentifier(last).toLowerCase();
}

export function unquoteIdentifier(raw: string): string {
  const q = raw[0];
  if ((q === '"' || q === '`') && raw.endsWith(q) && raw.length >= 2) {
    return raw.slice(1, -1).replaceAll(q + q, q);
  }
  if (q === '[' && raw.endsWith(']')) return raw.slice(1, -1);
  return raw;
}

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\n' || c === '\t' || c === '\r' || c === '\f' || c === '\v';
}

function isIdentifierChar(c: string | undefined): boolean {
  return c !== undefined && /[\p{L}\p{N}_$]/u.test(c);
}

/** MySQL needs whitespace (or the end) after `--` for it to start a comment. */
function isMysqlCommentGap(c: string | undefined): boolean {
  return c === undefined || isSpace(c);
}

function lineEnd(sql: string, from: number): number {
  const nl = sql.indexOf('\n', from);
  return nl === -1 ? sql.length : nl;
}

function blockCommentEnd(sql: string, from: number, nested: boolean): number {
  if (!nested) {
    const close = sql.indexOf('*/', from + 2);
    return close === -1 ? sql.length : close + 2;
  }
  let depth = 1;
  let i = from + 2;
  while (i < sql.length) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      depth++;
      i += 2;
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return sql.length;
}

/** End (exclusive) of the quoted run opening at `from`; a doubled quote is an escaped quote. */
function quotedEnd(sql: string, from: number, quote: string, backslash: boolean): number {
  let i = from + 1;
  while (i < sql.length) {
    const c = sql[i];
    if (backslash && c === '\\') {
      i += 2;
    } else if (c === quote) {
      if (sql[i + 1] !== quote) return i + 1;
      i += 2;
    } else {
      i++;
    }
  }
  return sql.length;
}

/** PostgreSQL E'...' strings take backslash escapes. */
function isEscapeStringPrefix(sql: string, quoteAt: number): boolean {
  const p = sql[quoteAt - 1];
  return (p === 'E' || p === 'e') && !isIdentifierChar(sql[quoteAt - 2]);
}

const DOLLAR_TAG = /\$(?:[\p{L}_][\p{L}\p{N}_]*)?\$/uy;

function dollarTagAt(sql: string, at: number): string | null {
  DOLLAR_TAG.lastIndex = at;
  return DOLLAR_TAG.exec(sql)?.[0] ?? null;
}
