import assert from 'node:assert/strict';
import { DEFAULT_REDACTED_HEADERS, REDACTED_VALUE, parseRedactedHeaders, redactBag, redactHeaders } from '../../../src/attributes/redact';

describe('attributes/redact', () => {
  it('redacts authorization, cookie, proxy-authorization and set-cookie by default, keeping the header present', () => {
    assert.deepEqual([...DEFAULT_REDACTED_HEADERS].sort(), ['authorization', 'cookie', 'proxy-authorization', 'set-cookie']);
    const h = { authorization: 'Bearer t', cookie: 'sid=1', 'proxy-authorization': 'Basic x', 'set-cookie': 'a=b', accept: '*/*' };
    const out = redactHeaders(h);
    assert.deepEqual(out, {
      authorization: REDACTED_VALUE,
      cookie: REDACTED_VALUE,
      'proxy-authorization': REDACTED_VALUE,
      'set-cookie': REDACTED_VALUE,
      accept: '*/*',
    });
    assert.equal(h.authorization, 'Bearer t', 'the argument is not changed');
    const clean = { accept: '*/*' };
    assert.equal(redactHeaders(clean), clean, 'nothing to redact: the same object');
  });

  it('reads the setting: unset is the defaults, none or empty is nothing, else the names given', () => {
    assert.deepEqual([...parseRedactedHeaders(undefined)].sort(), [...DEFAULT_REDACTED_HEADERS].sort());
    assert.equal(parseRedactedHeaders('none').size, 0);
    assert.equal(parseRedactedHeaders(' ').size, 0);
    assert.deepEqual([...parseRedactedHeaders('X-Api-Key, authorization,')], ['x-api-key', 'authorization']);
  });

  it('redacts the header maps of a bag (request.headers, response.headers) and nothing else', () => {
    const bag = Object.freeze({
      'request.headers': Object.freeze({ authorization: 'Bearer t', 'x-api-key': 'k' }),
      'response.headers': Object.freeze({ 'set-cookie': 'sid=2' }),
      'request.path': '/authorization',
    });
    const out = redactBag(bag, parseRedactedHeaders('authorization,set-cookie,x-api-key'));
    assert.deepEqual(out, {
      'request.headers': { authorization: REDACTED_VALUE, 'x-api-key': REDACTED_VALUE },
      'response.headers': { 'set-cookie': REDACTED_VALUE },
      'request.path': '/authorization',
    });
    assert.equal(redactBag(bag, new Set()), bag);
    const plain = { 'request.path': '/' };
    assert.equal(redactBag(plain), plain);
  });
});
