import { parseVariableQuery } from './variable-query';

describe('parseVariableQuery', () => {
  it('reads tag_values(dataType, tag[, prefix]) and the editor object', () => {
    expect(parseVariableQuery('tag_values(application, service)')).toEqual({ dataType: 'application', tag: 'service' });
    expect(parseVariableQuery(' tag_values( network , ip , 10. ) ')).toEqual({ dataType: 'network', tag: 'ip', prefix: '10.' });
    expect(parseVariableQuery({ dataType: 'l7_flow_log', tag: 'endpoint' })).toEqual({ dataType: 'l7_flow_log', tag: 'endpoint' });
  });

  it('refuses what it cannot read', () => {
    expect(parseVariableQuery('tag_values(nope, service)')).toBeUndefined();
    expect(parseVariableQuery('services')).toBeUndefined();
    expect(parseVariableQuery({ dataType: 'application', tag: '' })).toBeUndefined();
    expect(parseVariableQuery(undefined)).toBeUndefined();
  });
});
