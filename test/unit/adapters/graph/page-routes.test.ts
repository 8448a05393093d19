import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { graphAdapter } from '../../../../adapters/graph';
import { defaultPageDir, PAGE_FILES, pageRoutes } from '../../../../adapters/graph/page-routes';
import type { PageAnswer } from '../../../../adapters/graph/page-routes';
import type { AdapterRoute } from '../../../../src/sdk/adapter';
import { createAdapterEnv } from '../../../../src/sdk/env';

/** A logger that keeps its warnings. */
function recordingLogger(): { logger: Logger; warnings: unknown[][] } {
  const warnings: unknown[][] = [];
  const noop = (): void => {};
  const logger = { warn: (...args: unknown[]) => void warnings.push(args), info: noop, debug: noop, error: noop, child: () => logger } as unknown as Logger;
  return { logger, warnings };
}

async function call(route: AdapterRoute | undefined): Promise<PageAnswer> {
  assert.ok(route, 'route exists');
  return (await route({})) as PageAnswer;
}

describe('graph page routes', () => {
  it('serves the page, its scripts and stylesheet with their content types and Cache-Control: no-cache', async () => {
    const { logger, warnings } = recordingLogger();
    const routes = pageRoutes(logger);
    assert.deepEqual(Object.keys(routes).sort(), ['/graph', '/graph/app.css', '/graph/app.js', '/graph/cytoscape.min.js', '/graph/layout.js', '/graph/tap.js']);
    const want: Record<string, string> = {
      '/graph': 'text/html; charset=utf-8',
      '/graph/app.js': 'text/javascript; charset=utf-8',
      '/graph/layout.js': 'text/javascript; charset=utf-8',
      '/graph/tap.js': 'text/javascript; charset=utf-8',
      '/graph/app.css': 'text/css; charset=utf-8',
      '/graph/cytoscape.min.js': 'text/javascript; charset=utf-8',
    };
    for (const [p, type] of Object.entries(want)) {
      const a = await call(routes[p]);
      assert.equal(a.status ?? 200, 200, p);
      assert.equal(a.contentType, type, p);
      assert.equal(a.headers['cache-control'], 'no-cache', p);
      assert.ok(typeof a.body === 'string' && a.body.length > 100, `${p} has a body`);
    }
    assert.deepEqual(warnings, []);
  });

  it('serves the page files from adapters/graph/page and cytoscape from node_modules', async () => {
    const routes = pageRoutes(recordingLogger().logger);
    const dir = defaultPageDir();
    assert.equal(dir, path.resolve(__dirname, '..', '..', '..', '..', '..', 'adapters', 'graph', 'page'));
    for (const file of ['index.html', 'app.js', 'layout.js', 'tap.js', 'app.css']) {
      const route = Object.keys(PAGE_FILES).find((p) => PAGE_FILES[p].file === file);
      assert.equal((await call(routes[route!])).body, fs.readFileSync(path.join(dir, file), 'utf8'), file);
    }
    const cytoscape = (await call(routes['/graph/cytoscape.min.js'])).body;
    assert.equal(cytoscape, fs.readFileSync(require.resolve('cytoscape/dist/cytoscape.min.js'), 'utf8'));
  });

  it('every script and stylesheet the page asks for is a route (no CDN, no build step)', async () => {
    const routes = pageRoutes(recordingLogger().logger);
    const html = (await call(routes['/graph'])).body;
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]).filter((r) => !r.startsWith('data:'));
    assert.deepEqual(refs.sort(), ['/graph/app.css', '/graph/app.js', '/graph/cytoscape.min.js', '/graph/layout.js', '/graph/tap.js']);
    for (const r of refs) assert.ok(routes[r], `${r} is served`);
  });

  it('answers 503 naming the missing folder when the page files are not installed, and warns once', async () => {
    const { logger, warnings } = recordingLogger();
    const missing = path.join(os.tmpdir(), `mixer-no-page-${process.pid}-${Date.now()}`);
    const routes = pageRoutes(logger, { pageDir: missing });
    for (const p of Object.keys(PAGE_FILES)) {
      const a = await call(routes[p]);
      assert.equal(a.status, 503, p);
      assert.match(a.contentType ?? '', /^text\/plain/);
      assert.match(a.body, new RegExp(`graph page unavailable: .*${path.basename(missing)}`));
    }
    assert.equal(warnings.length, 1);
  });

  it('the graph handler serves the page beside /v1/graph', async () => {
    const owned = createAdapterEnv({ handlerName: 'default/graph' });
    const handler = await graphAdapter.create({}, owned.env);
    try {
      assert.deepEqual(Object.keys(handler.routes ?? {}).sort(), [
        '/graph',
        '/graph/app.css',
        '/graph/app.js',
        '/graph/cytoscape.min.js',
        '/graph/layout.js',
        '/graph/tap.js',
        '/v1/graph',
      ]);
      assert.equal((await call(handler.routes!['/graph'])).contentType, 'text/html; charset=utf-8');
    } finally {
      await handler.close?.();
      owned.dispose();
    }
  });
});
