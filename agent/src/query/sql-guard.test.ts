import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkAst, checkStatementText, tokenize } from './sql-guard';
import { QueryError } from './structured-query';

test('the tokenizer skips strings, quoted names and comments', () => {
  const t = tokenize("SELECT 'a;b', `x;y` -- c;\n /* d; */ FROM t # e;\n");
  assert.deepEqual(
    t.map((x) => x.text),
    ['SELECT', "'a;b'", ',', '`x;y`', 'FROM', 't'],
  );
  assert.deepEqual(tokenize("'it\\'s'").map((x) => x.kind), ['string']);
});

test('one statement, without SETTINGS, FORMAT or OUTFILE', () => {
  assert.equal(checkStatementText('SELECT 1;  '), 'SELECT 1');
  assert.equal(checkStatementText("SELECT ';' FROM t"), "SELECT ';' FROM t");
  const refused: [string, RegExp][] = [
    ['SELECT 1; DROP TABLE x', /only one statement/],
    ['SELECT 1 SETTINGS readonly = 0', /SETTINGS clauses are not allowed/],
    ['SELECT 1 FORMAT CSV', /FORMAT clauses/],
    ["SELECT 1 INTO OUTFILE '/tmp/x'", /INTO OUTFILE/],
    ['', /empty/],
    ["SELECT 'open", /unterminated string/],
    ['SELECT 1 /* open', /unterminated \/\* comment/],
  ];
  for (const [sql, message] of refused) assert.throws(() => checkStatementText(sql), (e: unknown) => e instanceof QueryError && message.test(e.message), sql);
});

const ast = (lines: string[]): string => lines.join('\n');

test('parse trees: only SELECT over our databases, no table functions or outside functions', () => {
  checkAst(
    ast([
      'SelectWithUnionQuery (children 1)',
      ' ExpressionList (children 1)',
      '  SelectQuery (children 2)',
      '   TablesInSelectQuery (children 1)',
      '    TablesInSelectQueryElement (children 1)',
      '     TableExpression (children 1)',
      '      TableIdentifier flow_metrics.application_1m',
    ]),
  );
  const refused: [string[], RegExp][] = [
    [['InsertQuery   (children 2)', ' Identifier flow_log'], /only SELECT statements are allowed, this is INSERT/],
    [['DropQuery flow_log x (children 2)'], /this is DROP/],
    [['SelectWithUnionQuery', ' TableExpression (children 1)', '  TableIdentifier system.tables'], /system tables are not readable/],
    [['SelectWithUnionQuery', ' TableExpression (children 1)', '  TableIdentifier other.t'], /not other/],
    [['SelectWithUnionQuery', ' TableExpression (children 1)', "  Function url (children 1)"], /table functions are not allowed \(url\)/],
    [['SelectWithUnionQuery', ' ExpressionList', '  Function dictGet (children 1)'], /dictGet is not allowed/],
    [['SelectWithUnionQuery', ' Function in', '  Identifier system.one'], /system tables are not readable/],
  ];
  for (const [lines, message] of refused) assert.throws(() => checkAst(ast(lines)), (e: unknown) => e instanceof QueryError && message.test(e.message), lines.join('|'));
});
