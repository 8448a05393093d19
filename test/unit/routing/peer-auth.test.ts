import { strict as assert } from 'node:assert';
import { mtlsModeFor } from '../../../src/routing/peer-auth';
import type { PeerAuthPlan } from '../../../src/routing/types';
import { compilePeerAuthentications } from '../../../src/config/peer-auth-compile';
import type { ConfigObject } from '../../../src/config/source';

const p = (namespace: string, name: string, mode: PeerAuthPlan['mode'], matchLabels?: Record<string, string>): PeerAuthPlan => ({
  ref: `${namespace}/${name}`,
  name,
  namespace,
  mode,
  ...(matchLabels ? { matchLabels } : {}),
});

describe('routing/peer-auth: which mutual TLS mode applies (Istio precedence)', () => {
  it('nothing set: PERMISSIVE', () => {
    assert.deepEqual(mtlsModeFor([], 'default', { app: 'backend' }), { mode: 'PERMISSIVE' });
  });
  it('workload selector beats namespace beats mesh; other namespaces do not apply', () => {
    const all = [
      p('istio-system', 'default', 'STRICT'),
      p('default', 'ns', 'PERMISSIVE'),
      p('default', 'be', 'DISABLE', { app: 'backend' }),
      p('shop', 'x', 'DISABLE'),
    ];
    assert.equal(mtlsModeFor(all, 'default', { app: 'backend' }).mode, 'DISABLE');
    assert.equal(mtlsModeFor(all, 'default', { app: 'frontend' }).mode, 'PERMISSIVE');
    assert.equal(mtlsModeFor(all, 'other', { app: 'backend' }).mode, 'STRICT');
    assert.equal(mtlsModeFor(all, 'other', {}).ref, 'istio-system/default');
  });
  it('UNSET inherits the next level', () => {
    assert.equal(
      mtlsModeFor([p('istio-system', 'default', 'STRICT'), p('default', 'be', 'UNSET', { app: 'backend' })], 'default', { app: 'backend' }).mode,
      'STRICT',
    );
  });
});

describe('config/peer-auth: compile', () => {
  const obj = (namespace: string, name: string, spec: object): ConfigObject =>
    ({
      kind: 'PeerAuthentication',
      namespace,
      name,
      key: `PeerAuthentication/${namespace}/${name}`,
      doc: { apiVersion: 'mixer/v1', kind: 'PeerAuthentication', metadata: { name, namespace }, spec },
      source: { file: 'pa.yaml' },
    }) as unknown as ConfigObject;
  it('normalises (no mtls: UNSET) and refuses two selector-less policies in one namespace', () => {
    const ok = compilePeerAuthentications([
      obj('default', 'a', { mtls: { mode: 'STRICT' } }),
      obj('default', 'b', { selector: { matchLabels: { app: 'x' } } }),
    ]);
    assert.deepEqual(ok.errors, []);
    assert.deepEqual(
      ok.policies.map((x) => [x.ref, x.mode, x.matchLabels]),
      [
        ['default/a', 'STRICT', undefined],
        ['default/b', 'UNSET', { app: 'x' }],
      ],
    );
    const bad = compilePeerAuthentications([obj('default', 'a', {}), obj('default', 'c', { mtls: { mode: 'DISABLE' } })]);
    assert.equal(bad.errors.length, 1);
    assert.match(bad.errors[0].reason, /already has a PeerAuthentication without a selector/);
  });
});
