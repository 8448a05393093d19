import { strict as assert } from 'node:assert';
import { deriveKey, signRequest, verifyRequest } from '../../../../src/mesh/common/mesh-key';
import { IdentitySigner, IdentityVerifier } from '../../../../src/mesh/common/identity';
import type { WorkloadIdentity } from '../../../../src/mesh/common/identity';

const KEY = 'unit-test-mesh-key-0123456789';
const frontend: WorkloadIdentity = {
  service: 'frontend',
  namespace: 'default',
  workload: 'frontend-v1',
  labels: { app: 'frontend', version: 'v1' },
  principal: 'spiffe://cluster.local/ns/default/sa/frontend',
  instance: 'frontend-v1-abcd',
};

describe('mesh/common identity and mesh-key', () => {
  const idKey = deriveKey(KEY, 'identity');
  const now = 1_800_000_000_000;

  it('a signed identity verifies at its destination and carries the caller', () => {
    const header = new IdentitySigner(idKey, frontend).headerFor('default', 'backend', now);
    const r = new IdentityVerifier(idKey, 'default', 'backend').verify(header, now + 1000);
    assert.ok('identity' in r);
    assert.deepEqual(r.identity, frontend);
  });

  it('refuses a forged, tampered, misdirected, stale or wrongly keyed identity', () => {
    const header = new IdentitySigner(idKey, frontend).headerFor('default', 'backend', now);
    const v = new IdentityVerifier(idKey, 'default', 'backend');
    const [payload, sig] = header.split('.');
    const forged = JSON.parse(Buffer.from(payload, 'base64url').toString());
    forged.l.app = 'admin';
    const tampered = `${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${sig}`;
    const err = (r: ReturnType<IdentityVerifier['verify']>) => ('error' in r ? r.error : 'accepted');
    assert.match(err(v.verify(tampered, now)), /signature does not verify/);
    assert.match(err(v.verify('garbage', now)), /malformed/);
    assert.match(err(new IdentityVerifier(idKey, 'default', 'payments').verify(header, now)), /signed for default\/backend/);
    assert.match(err(new IdentityVerifier(idKey, 'default', 'backend').verify(header, now + 61_000)), /stale/);
    assert.match(err(new IdentityVerifier(deriveKey('another-key-0123456789', 'identity'), 'default', 'backend').verify(header, now)), /signature/);
    assert.match(err(new IdentityVerifier(deriveKey(KEY, 'registry'), 'default', 'backend').verify(header, now)), /signature/, 'keys are separated by purpose');
  });

  it('signs registry requests over method, path, timestamp and body; rejects stale or altered ones', () => {
    const key = deriveKey(KEY, 'registry');
    const body = '{"instance":{}}';
    const h = signRequest(key, 'POST', '/v1/registry/heartbeat', body, now);
    assert.equal(verifyRequest(key, 'POST', '/v1/registry/heartbeat', body, h, now + 5000), undefined);
    assert.match(verifyRequest(key, 'POST', '/v1/registry/heartbeat', `${body} `, h, now) ?? '', /wrong signature/);
    assert.match(verifyRequest(key, 'GET', '/v1/registry/heartbeat', body, h, now) ?? '', /wrong signature/);
    assert.match(verifyRequest(key, 'POST', '/v1/registry/heartbeat', body, h, now + 31_000) ?? '', /stale/);
    assert.match(verifyRequest(key, 'POST', '/x', body, {}, now) ?? '', /missing/);
  });
});
