import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startMixer, postJson, REPO } from '../support/processes';
import type { MixerProcess } from '../support/processes';
import { frontendToBackend, batches } from '../support/traffic';
import { waitFor } from '../support/wait';

const CHROMIUM = '/usr/bin/chromium';
const TAP_TOKEN = 'graph-page-tap-token';
const OUT_DIR = path.join(REPO, 'test-output');
const SCREENSHOT = path.join(OUT_DIR, 'graph-page.png');

const ID = {
  ingress: 'app:istio-system/istio-ingressgateway',
  frontend: 'app:default/frontend/v1',
  v1: 'app:default/backend/v1',
  v2: 'app:default/backend/v2',
};

/** Inbound reports ingress → frontend, as the frontend's sidecar sends them: all 2xx, 20–59 ms. */
function ingressToFrontend(n: number): Record<string, unknown>[] {
  const start = Date.now() - 1000;
  return Array.from({ length: n }, (_, i) => ({
    'source.labels': { app: 'istio-ingressgateway', istio: 'ingressgateway' },
    'source.workload.name': 'istio-ingressgateway',
    'source.workload.namespace': 'istio-system',
    'destination.labels': { app: 'frontend', version: 'v1' },
    'destination.workload.name': 'frontend-v1',
    'destination.workload.namespace': 'default',
    'destination.service.name': 'frontend',
    'destination.service.namespace': 'default',
    'request.method': 'GET',
    'request.path': '/',
    'request.time': new Date(start + i).toISOString(),
    'response.code': 200,
    'response.duration': `${20 + (i % 40)}ms`,
    'request.size': 200,
    'response.size': 4000,
    'context.reporter.kind': 'inbound',
    'context.protocol': 'http',
    'connection.mtls': true,
  }));
}

interface DrawnNode {
  id: string;
  parent?: string;
  label: string;
  classes: string[];
  isParent: boolean;
  x: number;
  y: number;
}

interface DrawnEdge {
  id: string;
  source: string;
  target: string;
  label: string;
  errors: number;
  classes: string[];
  color: string;
  width: number;
}

/** What `window.mixerGraph` (the page's cytoscape instance) holds. */
async function drawn(page: Page): Promise<{ nodes: DrawnNode[]; edges: DrawnEdge[] }> {
  return page.evaluate(() => {
    const cy = (globalThis as any).mixerGraph;
    return {
      nodes: cy.nodes().map((n: any) => ({
        id: n.id(),
        parent: n.data('parent'),
        label: n.data('label'),
        classes: n.classes(),
        isParent: n.isParent(),
        x: n.position('x'),
        y: n.position('y'),
      })),
      edges: cy.edges().map((e: any) => ({
        id: e.id(),
        source: e.data('source'),
        target: e.data('target'),
        label: e.data('label'),
        errors: e.data('errors'),
        classes: e.classes(),
        color: e.style('line-color'),
        width: e.numericStyle('width'),
      })),
    };
  });
}

/** `rgb(r, g, b)` or `rgba(r, g, b, a)` → [r, g, b]. */
function rgb(color: string): number[] {
  const m = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(color);
  assert.ok(m, `a colour: ${color}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

function isRed(color: string): boolean {
  const [r, g, b] = rgb(color);
  return r > g + 60 && r > b + 60;
}

describe('the graph page (GET /graph in a real browser)', function () {
  this.timeout(120_000);
  let mixer: MixerProcess;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  /** Opens the page and waits until it has drawn (or reached `state`). */
  async function open(query = '', state = 'ready'): Promise<void> {
    await page.goto(`${mixer.url}/graph${query}`);
    await page.waitForSelector(`body[data-state="${state}"]`, { timeout: 30_000 });
  }

  /** Sends `n` requests on each hop and waits until the graph of `window` counts all it was sent. */
  let sent = 0;
  async function traffic(n: number, window = '5m'): Promise<void> {
    const reports = [...frontendToBackend(n, sent + 1).map((r) => r.bag), ...ingressToFrontend(n)];
    for (const batch of batches(reports, 100)) {
      const r = await postJson(`${mixer.url}/v1/report`, { attributes: batch });
      assert.equal(r.status, 202, JSON.stringify(r.body));
    }
    sent += reports.length;
    await waitFor(
      `every report in the ${window} graph`,
      async () => {
        const g: any = await (await fetch(`${mixer.url}/v1/graph?window=${window}`)).json();
        const total = g.elements.edges.reduce((k: number, e: { data: { requests: number } }) => k + e.data.requests, 0);
        return g.elements.edges.length === 3 && (window !== '5m' || total === sent);
      },
      60_000,
      100,
    );
  }

  before(async () => {
    mixer = await startMixer({ REDIS_URL: '', MIXER_CONFIG_DIR: path.join(REPO, 'rules'), MIXER_ADMIN_TOKEN: TAP_TOKEN });
    await traffic(300);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
    await mixer?.stop();
  });

  it('serves the page, its script, stylesheet and cytoscape with their content types', async () => {
    const want: Record<string, RegExp> = {
      '/graph': /^text\/html; charset=utf-8$/,
      '/graph/app.js': /^text\/javascript; charset=utf-8$/,
      '/graph/layout.js': /^text\/javascript; charset=utf-8$/,
      '/graph/app.css': /^text\/css; charset=utf-8$/,
      '/graph/cytoscape.min.js': /^text\/javascript; charset=utf-8$/,
    };
    for (const [route, type] of Object.entries(want)) {
      const r = await fetch(`${mixer.url}${route}`);
      assert.equal(r.status, 200, route);
      assert.match(r.headers.get('content-type') ?? '', type, route);
      assert.ok((await r.text()).length > 100, `${route} has a body`);
    }
    const cytoscape = await (await fetch(`${mixer.url}/graph/cytoscape.min.js`)).text();
    assert.equal(cytoscape, fs.readFileSync(require.resolve('cytoscape/dist/cytoscape.min.js'), 'utf8'));
  });

  it('draws ingress → frontend → backend v1/v2 grouped by app, edges labelled, 5xx edges in red', async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
    });
    await open();
    const { nodes, edges } = await drawn(page);

    const byId = new Map(nodes.map((n) => [n.id, n]));
    for (const [id, parent, label] of [
      [ID.ingress, 'group:istio-system/istio-ingressgateway', 'istio-ingressgateway'],
      [ID.frontend, 'group:default/frontend', 'v1'],
      [ID.v1, 'group:default/backend', 'v1'],
      [ID.v2, 'group:default/backend', 'v2'],
    ]) {
      const n = byId.get(id);
      assert.ok(n, `node ${id} drawn`);
      assert.equal(n.parent, parent, `${id} inside its app`);
      assert.equal(n.label, label);
      assert.ok(byId.get(parent)?.isParent, `${parent} is a compound node`);
    }
    assert.deepEqual(
      nodes
        .filter((n) => n.isParent)
        .map((n) => n.id)
        .sort(),
      ['group:default/backend', 'group:default/frontend', 'group:istio-system/istio-ingressgateway'],
    );
    assert.equal(nodes.length, 7, 'four nodes and three app groups');

    const edgeOf = (s: string, t: string) => {
      const e = edges.find((x) => x.source === s && x.target === t);
      assert.ok(e, `edge ${s} → ${t}`);
      return e;
    };
    const ingress = edgeOf(ID.ingress, ID.frontend);
    const toV1 = edgeOf(ID.frontend, ID.v1);
    const toV2 = edgeOf(ID.frontend, ID.v2);
    assert.equal(edges.length, 3);
    for (const e of [ingress, toV1, toV2]) {
      assert.match(e.label, /\d+(\.\d+)? rps/, `${e.id}: a rate`);
      assert.match(e.label, /\d+(\.\d+)?% 5xx/, `${e.id}: an error %`);
      assert.match(e.label, /p95 \d+(\.\d+)? ms/, `${e.id}: a p95`);
    }
    assert.match(ingress.label, / 0% 5xx/);
    assert.deepEqual(ingress.classes, ['ok']);
    assert.ok(!isRed(ingress.color), `no 5xx: not red (${ingress.color})`);
    for (const e of [toV1, toV2]) {
      assert.ok(e.errors > 0, `${e.id} carried 5xx`);
      assert.deepEqual(e.classes, ['error']);
      assert.ok(isRed(e.color), `${e.id} with 5xx is red (${e.color})`);
      assert.ok(e.width > ingress.width, `${e.id} is thicker than an edge without errors`);
    }

    // Left to right: ingress, then frontend, then the backends.
    assert.ok(byId.get(ID.ingress)!.x < byId.get(ID.frontend)!.x, 'ingress left of frontend');
    assert.ok(byId.get(ID.frontend)!.x < byId.get(ID.v1)!.x, 'frontend left of backend');
    assert.equal(await page.textContent('#updated').then((t) => /^Updated /.test(t ?? '')), true);
    assert.equal(await page.isVisible('#empty'), false);
    assert.equal(await page.isVisible('#error'), false);
    assert.deepEqual(errors, [], 'no script errors or console warnings');

    fs.mkdirSync(OUT_DIR, { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    assert.ok(fs.statSync(SCREENSHOT).size > 0);
  });

  it('reloads when the window changes, and auto-refreshes without moving the nodes', async () => {
    await traffic(30, '1m'); // fresh requests: the last minute holds every edge, however slow the run so far
    await open();
    const before = await drawn(page);
    const reload = page.waitForResponse((r) => r.url().endsWith('/v1/graph?window=1m') && r.status() === 200);
    await page.selectOption('#window', '1m');
    await reload;
    await page.waitForSelector('body[data-window="1m"][data-state="ready"]');
    assert.match(page.url(), /\/graph\?window=1m$/, 'the window is kept in the address');
    const after1m = await drawn(page);
    assert.equal(after1m.edges.length, 3, 'the last minute holds the same edges');
    const pos = (d: { nodes: DrawnNode[] }) => Object.fromEntries(d.nodes.filter((n) => !n.isParent).map((n) => [n.id, [n.x, n.y]]));
    assert.deepEqual(pos(after1m), pos(before), 'same nodes: positions kept');

    // Auto-refresh (on by default) asks again by itself; the node set is unchanged, so nothing moves.
    await page.waitForResponse((r) => r.url().endsWith('/v1/graph?window=1m'), { timeout: 30_000 });
    await page.waitForSelector('body[data-state="ready"]');
    assert.deepEqual(pos(await drawn(page)), pos(before), 'positions kept across auto-refresh');
  });

  it('opens with the window given in the address', async () => {
    await open('?window=1h');
    assert.equal(await page.inputValue('#window'), '1h');
    assert.equal(await page.getAttribute('body', 'data-window'), '1h');
  });

  it('exports the drawing as PNG and the raw /v1/graph answer as JSON', async () => {
    await open();
    const [png] = await Promise.all([page.waitForEvent('download'), page.click('#export-png')]);
    assert.match(png.suggestedFilename(), /^mixer-graph-5m-.+\.png$/);
    const bytes = fs.readFileSync(await png.path());
    assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG signature');
    assert.ok(bytes.readUInt32BE(16) > 100 && bytes.readUInt32BE(20) > 100, 'a real image (IHDR width and height)');
    assert.ok(bytes.length > 5000, `a non-trivial PNG (${bytes.length} bytes)`);

    const [json] = await Promise.all([page.waitForEvent('download'), page.click('#export-json')]);
    assert.match(json.suggestedFilename(), /^mixer-graph-5m-.+\.json$/);
    const g = JSON.parse(fs.readFileSync(await json.path(), 'utf8'));
    assert.equal(g.window, '5m');
    assert.deepEqual(g.elements.nodes.map((n: { data: { id: string } }) => n.data.id).sort(), [ID.frontend, ID.v1, ID.v2, ID.ingress].sort());
    assert.equal(g.elements.edges.length, 3);
  });

  it('clicking an edge opens its live tap beside the graph; the admin token is asked for and kept in this tab only', async () => {
    await open();
    const edge = (await drawn(page)).edges.find((e) => e.source === ID.frontend && e.target === ID.v1)!;
    await page.evaluate(() => (globalThis as any).sessionStorage.removeItem('mixer.adminToken'));
    await page.evaluate((id) => (globalThis as any).mixerGraph.getElementById(id).emit('tap'), edge.id);
    await page.click('#details-tap');
    await page.waitForSelector('#tap[data-state="unauthorized"]');
    assert.equal(await page.isVisible('#tap'), true);
    await page.fill('#tap-token', 'not-the-token');
    await page.click('#tap-start');
    await page.waitForFunction(() => /401/.test((globalThis as any).document.getElementById('tap-status').textContent ?? ''));
    await page.fill('#tap-token', TAP_TOKEN);
    await page.click('#tap-start');
    await page.waitForSelector('#tap[data-state="live"]');
    assert.equal(await page.evaluate(() => (globalThis as any).sessionStorage.getItem('mixer.adminToken')), TAP_TOKEN);
    assert.equal(await page.evaluate(() => (globalThis as any).localStorage.length), 0, 'never in localStorage');

    // Traffic on both backend versions: only the clicked edge (frontend → backend v1) shows.
    const bags = frontendToBackend(40, 5000).map((r) => r.bag);
    const v1 = bags.filter((b) => (b['destination.labels'] as Record<string, string>).version === 'v1').length;
    assert.ok(v1 > 0 && v1 < bags.length);
    assert.equal((await postJson(`${mixer.url}/v1/report`, { attributes: bags })).status, 202);
    const rows = await waitFor(
      `${v1} rows in the tap`,
      async () => {
        const titles = await page.$$eval('#tap-events li', (lis) => lis.map((li) => li.getAttribute('title') ?? ''));
        return titles.length >= v1 ? titles : undefined;
      },
      10_000,
      100,
    );
    assert.equal(rows.length, v1);
    for (const t of rows) {
      const e = JSON.parse(t);
      assert.equal(e.kind, 'report');
      assert.equal(e.attributes['destination.workload.name'], 'backend-v1');
    }
    await page.click('#tap-close');
    assert.equal(await page.isVisible('#tap'), false);
    sent += bags.length;
  });

  it('shows an error banner when /v1/graph fails, the empty state without traffic, and recovers', async () => {
    await open();
    await page.route('**/v1/graph?*', (route) =>
      route.fulfill({
        status: 503,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'MIXER_ERR_NOT_READY', message: 'config not loaded yet' } }),
      }),
    );
    await page.click('#refresh');
    await page.waitForSelector('body[data-state="error"]');
    const banner = await page.textContent('#error');
    assert.match(banner ?? '', /HTTP 503: config not loaded yet/);
    assert.equal((await drawn(page)).edges.length, 3, 'the last graph stays drawn');

    await page.unroute('**/v1/graph?*');
    await page.route('**/v1/graph?*', (route) =>
      route.fulfill({
        status: 200,
        contentType: 'application/json',
        body: JSON.stringify({ timestamp: 1714564800, duration: 300, window: '5m', elements: { nodes: [], edges: [] } }),
      }),
    );
    await page.click('#refresh');
    await page.waitForSelector('body[data-state="empty"]');
    assert.equal(await page.isVisible('#empty'), true);
    assert.equal(await page.isVisible('#error'), false, 'a good answer clears the banner');
    assert.match((await page.textContent('#empty')) ?? '', /no requests in the last 5 minutes/);
    assert.equal((await drawn(page)).nodes.length, 0);

    await page.unroute('**/v1/graph?*');
    await page.click('#refresh');
    await page.waitForSelector('body[data-state="ready"]');
    assert.equal((await drawn(page)).edges.length, 3);
    assert.equal(await page.isVisible('#empty'), false);
  });
});
