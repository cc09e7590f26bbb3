import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_RESOURCE_CHARS, maskSql, sqlEndpoint, sqlResourceAndEndpoint, useDatabase } from './sql-masking';

test('literals are masked', () => {
  assert.equal(maskSql("SELECT * FROM users WHERE name = 'bob' AND age > 42"), 'SELECT * FROM users WHERE name = ? AND age > ?');
  assert.equal(maskSql('select "x", 3.14, -7, 1e10, .5 from t'), 'select ?, ?, -?, ?, ? from t');
  assert.equal(maskSql("insert into t values ('it''s', 'a\\'b', 0xDEADbeef, X'0aff', b'0101', N'nat')"), 'insert into t values (?, ?, ?, ?, ?, ?)');
  assert.equal(maskSql('SELECT col1, t2.c3 FROM t2 WHERE id IN (1,2,3)'), 'SELECT col1, t2.c3 FROM t2 WHERE id IN (?,?,?)');
  assert.equal(maskSql('select `weird 1` from `t`'), 'select `weird 1` from `t`');
  assert.equal(maskSql('select 1abc from t'), 'select 1abc from t');
  assert.equal(maskSql("select _utf8mb4'x'"), 'select _utf8mb4?');
});

test('whitespace collapses, comments kept or dropped', () => {
  assert.equal(maskSql('  SELECT\n\t a  FROM   b  '), 'SELECT a FROM b');
  assert.equal(maskSql('/* app=1 */ SELECT 1 -- tail\n'), '/* app=1 */ SELECT ? -- tail');
  assert.equal(maskSql('/* app=1 */ SELECT 1 # x', { dropComments: true }), 'SELECT ?');
});

test('keepLiterals and truncation', () => {
  assert.equal(maskSql("SELECT 'a', 2", { keepLiterals: true }), "SELECT 'a', 2");
  const long = 'SELECT ' + 'a, '.repeat(2000) + 'b';
  assert.equal(maskSql(long).length, MAX_RESOURCE_CHARS);
  assert.equal(maskSql("SELECT 'unterminated"), 'SELECT ?');
});

test('endpoint: VERB table', () => {
  assert.equal(sqlEndpoint('select * from users where id = 1'), 'SELECT users');
  assert.equal(sqlEndpoint('INSERT INTO `shop`.`orders` (a) VALUES (1)'), 'INSERT shop.orders');
  assert.equal(sqlEndpoint('update accounts set x = 1'), 'UPDATE accounts');
  assert.equal(sqlEndpoint('DELETE FROM t1 WHERE a = 2'), 'DELETE t1');
  assert.equal(sqlEndpoint('CREATE TABLE IF NOT EXISTS logs (id int)'), 'CREATE logs');
  assert.equal(sqlEndpoint('select a from (select b from inner_t) x'), 'SELECT inner_t');
  assert.equal(sqlEndpoint('/* hint */ SELECT 1'), 'SELECT');
  assert.equal(sqlEndpoint('SET NAMES utf8mb4'), 'SET');
  assert.equal(sqlEndpoint("select 'from x' from real_t"), 'SELECT real_t');
  assert.equal(sqlEndpoint(''), '');
  assert.equal(sqlEndpoint('   '), '');
});

test('resource and endpoint together equal maskSql and sqlEndpoint, statements repeated or not', () => {
  const statements = [
    'select * from users where id = 1',
    'select * from users where id = 2',
    "INSERT INTO `shop`.`orders` (a, b) VALUES (1, 'x -- not a comment')",
    '/* hint */ SELECT 1',
    'SELECT a -- trailing\nFROM t2',
    'select # note\n b from t3',
    'update accounts set x = 1',
    `select ${'c, '.repeat(600)} d from wide_t`,
    `select 1 from t4 where x in (${'1, '.repeat(2000)} 2)`,
    ' '.repeat(5000) + 'select z from t5',
    '',
  ];
  for (const keep of [false, true]) {
    for (const sql of [...statements, ...statements]) {
      assert.deepEqual(sqlResourceAndEndpoint(sql, keep), { resource: maskSql(sql, { keepLiterals: keep }), endpoint: sqlEndpoint(sql) }, JSON.stringify(sql.slice(0, 40)));
    }
  }
});

test('USE db', () => {
  assert.equal(useDatabase('USE shop'), 'shop');
  assert.equal(useDatabase('use `my db`;'), 'my db');
  assert.equal(useDatabase('select 1'), undefined);
});
