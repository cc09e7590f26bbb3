import { expandValues, listFormat, namedFormat, replaceVariables, variableNames } from './template-values';

describe('template values without a dashboard', () => {
  it('finds the variables of a text in every syntax Grafana accepts', () => {
    expect(variableNames('$a ${b} ${c:csv} [[d]] [[e:pipe]] $a $__from')).toEqual(['a', 'b', 'c', 'd', 'e', '__from']);
  });

  it('replaces known variables with Grafana\'s formats and leaves unknown ones as written', () => {
    const values = { one: 'x', many: ['a', 'b'] };
    expect(replaceVariables('$one/${many}/${many:csv}/[[many:pipe]]/${many:singlequote}/$other', values)).toBe("x/{a,b}/a,b/a|b/'a','b'/$other");
    expect(replaceVariables('${many:json}', values)).toBe('["a","b"]');
    expect(replaceVariables('[[one]]', values)).toBe('x');
  });

  it('expands multi-value variables into lists through the list format, whatever the values hold', () => {
    const values = { svc: ['[::1]:80', 'a,b'], one: 'x' };
    expect(expandValues(replaceVariables('$svc', values, listFormat))).toEqual(['[::1]:80', 'a,b']);
    expect(expandValues(replaceVariables('$one', values, listFormat))).toEqual(['x']);
    expect(expandValues(replaceVariables('prefix-$one', values, listFormat))).toEqual([`prefix-${listFormat('x')}`]);
  });

  it('the default format is Grafana\'s glob', () => {
    expect(namedFormat(undefined)(['a'])).toBe('a');
    expect(namedFormat(undefined)(['a', 'b'])).toBe('{a,b}');
    expect(namedFormat('doublequote')(['a"'])).toBe('"a\\""');
  });
});
