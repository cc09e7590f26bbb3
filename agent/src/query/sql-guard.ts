/**
 * SQL mode's gate: user SQL may only read our two databases. The statement is parsed by
 * ClickHouse itself (`EXPLAIN AST`, which parses without running anything), so the check sees
 * what the engine will run rather than guessing from text; what the parse tree cannot show
 * (several statements in one string, which the engine would run one after the other) is found
 * by a small tokenizer that skips strings and comments.
 */
import { QueryError } from './structured-query';

export const READABLE_DATABASES = ['flow_metrics', 'flow_log'] as const;

/** Functions that reach outside the store (files, network, other engines, dictionaries). */
const FORBIDDEN_FUNCTIONS = new Set(
  [
    'file',
    'url',
    'urlCluster',
    'remote',
    'remoteSecure',
    'cluster',
    'clusterAllReplicas',
    's3',
    's3Cluster',
    'gcs',
    'hdfs',
    'hdfsCluster',
    'azureBlobStorage',
    'mysql',
    'postgresql',
    'sqlite',
    'mongodb',
    'redis',
    'jdbc',
    'odbc',
    'executable',
    'input',
    'iceberg',
    'deltaLake',
    'hudi',
    'dictGet',
    'dictGetOrDefault',
    'dictHas',
    'joinGet',
    'getSetting',
  ].map((f) => f.toLowerCase()),
);

/** Statement kinds that only read. */
const READ_ONLY_ROOTS = new Set(['SelectWithUnionQuery', 'SelectIntersectExceptQuery']);

export interface Token {
  kind: 'word' | 'string' | 'quoted' | 'symbol' | 'number';
  text: string;
}

/** ClickHouse lexical tokens without comments; enough to see statements and keywords. */
export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const ch = sql[i];
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
    } else if (ch === '#' && (sql[i + 1] === ' ' || sql[i + 1] === '!')) {
      while (i < n && sql[i] !== '\n') i++;
    } else if (ch === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end < 0) throw new QueryError('unterminated /* comment');
      i = end + 2;
    } else if (ch === "'" || ch === '"' || ch === '`') {
      let j = i + 1;
      while (j < n && sql[j] !== ch) j += sql[j] === '\\' ? 2 : 1;
      if (j >= n) throw new QueryError(`unterminated ${ch === "'" ? 'string' : 'quoted identifier'}`);
      out.push({ kind: ch === "'" ? 'string' : 'quoted', text: sql.slice(i, j + 1) });
      i = j + 1;
    } else if (/[A-Za-z_]/.test(ch)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_]/.test(sql[j])) j++;
      out.push({ kind: 'word', text: sql.slice(i, j) });
      i = j;
    } else if (/[0-9]/.test(ch)) {
      let j = i + 1;
      while (j < n && /[0-9A-Za-z_.]/.test(sql[j])) j++;
      out.push({ kind: 'number', text: sql.slice(i, j) });
      i = j;
    } else {
      out.push({ kind: 'symbol', text: ch });
      i++;
    }
  }
  return out;
}

/** Text checks before the engine sees the statement. Returns the statement without a final `;`. */
export function checkStatementText(sql: string): string {
  const tokens = tokenize(sql);
  if (tokens.length === 0) throw new QueryError('the SQL is empty');
  const semicolons = tokens.map((t, i) => (t.kind === 'symbol' && t.text === ';' ? i : -1)).filter((i) => i >= 0);
  if (semicolons.some((i) => i !== tokens.length - 1)) throw new QueryError('only one statement is allowed (found a ; before the end)');
  for (const t of tokens) {
    if (t.kind !== 'word') continue;
    const word = t.text.toUpperCase();
    if (word === 'SETTINGS') throw new QueryError('SETTINGS clauses are not allowed: the API sets the read-only, time and row limits');
    if (word === 'FORMAT') throw new QueryError('FORMAT clauses are not allowed: the API chooses the result format');
    if (word === 'OUTFILE') throw new QueryError('INTO OUTFILE is not allowed');
  }
  return semicolons.length ? sql.slice(0, sql.lastIndexOf(';')) : sql;
}

interface AstLine {
  depth: number;
  node: string;
  arg: string;
}

function parseAst(text: string): AstLine[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const depth = l.length - l.trimStart().length;
      const [node, ...rest] = l.trim().split(' ');
      return { depth, node, arg: rest.join(' ').replace(/\s*\((alias [^)]*|children \d+)\)/g, '').trim() };
    });
}

/**
 * Checks `EXPLAIN AST` output: one read-only statement, tables only from our databases, no table
 * functions, no functions that reach outside the store. Throws a QueryError naming the reason.
 */
export function checkAst(astText: string): void {
  const lines = parseAst(astText);
  const root = lines[0];
  if (!root) throw new QueryError('the SQL could not be parsed');
  if (!READ_ONLY_ROOTS.has(root.node)) {
    const kind = root.node.replace(/Query$/, '').toUpperCase();
    throw new QueryError(`only SELECT statements are allowed, this is ${kind || root.node}`);
  }
  const parents: AstLine[] = [];
  for (const line of lines) {
    while (parents.length && parents[parents.length - 1].depth >= line.depth) parents.pop();
    const parent = parents[parents.length - 1];
    if (line.node === 'TableIdentifier') {
      const dot = line.arg.indexOf('.');
      if (dot >= 0) {
        const db = line.arg.slice(0, dot).replace(/`/g, '');
        if (db.toLowerCase() === 'system' || db.toLowerCase() === 'information_schema') throw new QueryError(`system tables are not readable (${line.arg})`);
        if (!(READABLE_DATABASES as readonly string[]).includes(db)) throw new QueryError(`only the databases ${READABLE_DATABASES.join(' and ')} are readable, not ${db}`);
      }
    }
    if (line.node === 'Identifier' && /^`?(system|information_schema)`?\./i.test(line.arg)) {
      // `x IN system.numbers` names a table through a plain identifier.
      throw new QueryError(`system tables are not readable (${line.arg})`);
    }
    if (line.node === 'Function') {
      const name = line.arg.split(' ')[0];
      if (parent?.node === 'TableExpression') throw new QueryError(`table functions are not allowed (${name})`);
      if (FORBIDDEN_FUNCTIONS.has(name.toLowerCase())) throw new QueryError(`the function ${name} is not allowed: it reaches outside the store`);
    }
    parents.push(line);
  }
}
