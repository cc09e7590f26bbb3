import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EndpointCap, OTHER_ENDPOINT } from './endpoint-cap';

test('endpoints beyond the cap of a service become other, and are counted', () => {
  const cap = new EndpointCap(2);
  assert.equal(cap.endpoint('a', '/x'), '/x');
  assert.equal(cap.endpoint('a', '/y'), '/y');
  assert.equal(cap.endpoint('a', '/z'), OTHER_ENDPOINT);
  assert.equal(cap.endpoint('a', '/x'), '/x', 'known endpoints keep their name');
  assert.equal(cap.endpoint('b', '/z'), '/z', 'the cap is per service');
  assert.equal(cap.folded, 1);
});

test('the number of services remembered is bounded too', () => {
  const cap = new EndpointCap(1, 2);
  cap.endpoint('a', '/1');
  cap.endpoint('b', '/1');
  cap.endpoint('c', '/1');
  // 'a' was forgotten, so its next endpoint is a first one again.
  assert.equal(cap.endpoint('a', '/2'), '/2');
});
