import { strict as assert } from 'node:assert';
import { sidecarArgsFromPod } from '../../../../src/mesh/common/pod-args';

describe('mesh/common/pod-args sidecarArgsFromPod', () => {
  it('reads service, namespace, labels, port and service account from a pod', () => {
    const args = sidecarArgsFromPod(
      {
        metadata: { name: 'backend-v1-7d9f', namespace: 'shop', labels: { version: 'v1', app: 'backend' } },
        spec: { serviceAccountName: 'backend-sa', containers: [{ name: 'backend', ports: [{ containerPort: 8080 }] }] },
      },
      { mixerUrl: 'http://mixer:9091', adminPort: 15000 },
    );
    assert.deepEqual(args, [
      'sidecar',
      '--service',
      'backend',
      '--namespace',
      'shop',
      '--labels',
      'app=backend,version=v1',
      '--app-port',
      '8080',
      '--inbound-port',
      '15006',
      '--outbound-port',
      '15001',
      '--mixer',
      'http://mixer:9091',
      '--service-account',
      'backend-sa',
      '--admin-port',
      '15000',
    ]);
  });

  it('annotations win; missing port or name is an error', () => {
    const args = sidecarArgsFromPod(
      {
        metadata: { name: 'p', annotations: { 'sidecar.mixer.io/app-port': '9000', 'sidecar.mixer.io/service': 'api' } },
        spec: { containers: [{ ports: [{ containerPort: 80 }] }] },
      },
      { failOpen: true },
    );
    assert.deepEqual(args.slice(0, 5), ['sidecar', '--service', 'api', '--namespace', 'default']);
    assert.ok(args.includes('9000') && args.includes('--fail-open'));
    assert.throws(() => sidecarArgsFromPod({ metadata: { labels: { app: 'x' } }, spec: { containers: [{}] } }), /containerPort/);
    assert.throws(() => sidecarArgsFromPod({ spec: { containers: [{ ports: [{ containerPort: 1 }] }] } }), /service/);
  });
});
