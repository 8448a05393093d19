import { strict as assert } from 'node:assert';
import { matchIngressRoute, parseIngressRoutes } from '../../../../src/mesh/ingress/routes';

describe('mesh/ingress/routes', () => {
  const routes = parseIngressRoutes(['/=frontend', '/api=backend.shop', 'admin.example.com/=admin,/api/v2=backend-v2'], 'default');

  it('host-specific routes first, then the longest prefix', () => {
    const m = (host: string | undefined, path: string) => {
      const r = matchIngressRoute(routes, host, path);
      return r && `${r.service}.${r.namespace}`;
    };
    assert.equal(m('localhost:8080', '/ping'), 'frontend.default');
    assert.equal(m('localhost', '/api/x'), 'backend.shop');
    assert.equal(m('localhost', '/api/v2/x'), 'backend-v2.default');
    assert.equal(m('Admin.Example.com:443', '/api/x'), 'admin.default');
    assert.equal(m(undefined, '/'), 'frontend.default');
    assert.equal(matchIngressRoute(parseIngressRoutes(['/api=backend'], 'default'), 'x', '/other'), undefined);
  });

  it('rejects malformed routes with the expected form', () => {
    assert.throws(() => parseIngressRoutes(['frontend'], 'default'), /must look like \[host\]\/path-prefix=service/);
    assert.throws(() => parseIngressRoutes(['/=Front_end'], 'default'), /must look like/);
  });
});
