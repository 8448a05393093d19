import { strict as assert } from 'node:assert';
import pino from 'pino';
import { freePort } from '../../../../src/base/ports';
import { resolveIngressOptions, startIngress } from '../../../../src/mesh/ingress/ingress';
import type { RunningIngress } from '../../../../src/mesh/ingress/ingress';
import { normaliseRequestPath } from '../../../../src/mesh/ingress/normalise-path';
import { matchIngressRoute, parseIngressRoutes } from '../../../../src/mesh/ingress/routes';

describe('mesh/ingress: paths are normalised before they are matched', () => {
  it('removes dot segments, merges slashes, reads \\ as /, decodes unreserved escapes; keeps the query', () => {
    const cases: Array<[string, string | undefined]> = [
      ['/', '/'],
      ['/pub/../admin', '/admin'],
      ['/pub/%2e%2E/admin', '/admin'],
      ['/pub\\..\\admin', '/admin'],
      ['//admin', '/admin'],
      ['/a/./b/', '/a/b/'],
      ['/a/b/..', '/a/'],
      ['/../../x', '/x'],
      ['/a%41%7e?q=/../y', '/aA~?q=/../y'],
      ['/a%3f', '/a%3F'],
      // Refused (the ingress answers 400): an escaped slash, a bad escape, not a path.
      ['/pub/..%2fadmin', undefined],
      ['/pub/..%5cadmin', undefined],
      ['/bad%zz', undefined],
      ['*', undefined],
      ['http://example.com/pub', undefined],
    ];
    for (const [raw, want] of cases) assert.equal(normaliseRequestPath(raw), want, raw);
    const routes = parseIngressRoutes(['/pub=pub', '/=frontend'], 'default');
    assert.equal(matchIngressRoute(routes, 'x', normaliseRequestPath('/pub/../admin')!)?.service, 'frontend');
  });

  describe('a running ingress', () => {
    let ingress: RunningIngress;
    before(async () => {
      const opts = resolveIngressOptions({ port: String(await freePort()), host: '127.0.0.1', mixer: `http://127.0.0.1:${await freePort()}` }, ['/pub=pub'], {
        MIXER_MESH_KEY: 'test-mesh-key-0123456789abcdef',
      });
      ingress = await startIngress(opts, pino({ level: 'silent' }));
    });
    after(async () => ingress?.close());

    it('does not route /pub/../admin (nor its encoded forms) to the /pub service', async () => {
      const get = async (p: string): Promise<[number, string]> => {
        const r = await fetch(`http://127.0.0.1:${ingress.port}${p}`);
        return [r.status, await r.text()];
      };
      // fetch would normalise the URL itself: send the raw request target with node:http.
      const raw = async (p: string): Promise<number> => {
        const http = await import('node:http');
        return new Promise((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port: ingress.port, path: p, headers: { host: 'edge.example' } }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on('error', reject);
          req.end();
        });
      };
      assert.equal(await raw('/pub/../admin'), 404);
      assert.equal(await raw('/pub/%2e%2e/admin'), 404);
      assert.equal(await raw('/pub/..%2fadmin'), 400);
      const [status, text] = await get('/other');
      assert.equal(status, 404);
      assert.match(text, /no ingress route for 127\.0\.0\.1:\d+\/other/);
    });
  });
});
