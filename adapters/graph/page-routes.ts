/**
 * The graph page (`GET /graph`): a static HTML page, its script and stylesheet, and cytoscape's
 * browser bundle, served from the graph handler's `routes` (no build step, no CDN).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { AdapterRoute, RouteAnswer } from '../../src/sdk';

/** The page's paths on Mixer's API port, each with the file it serves and its content type. */
export const PAGE_FILES: Readonly<Record<string, { file: string; contentType: string }>> = Object.freeze({
  '/graph': { file: 'index.html', contentType: 'text/html; charset=utf-8' },
  '/graph/app.js': { file: 'app.js', contentType: 'text/javascript; charset=utf-8' },
  '/graph/layout.js': { file: 'layout.js', contentType: 'text/javascript; charset=utf-8' },
  '/graph/tap.js': { file: 'tap.js', contentType: 'text/javascript; charset=utf-8' },
  '/graph/app.css': { file: 'app.css', contentType: 'text/css; charset=utf-8' },
  '/graph/cytoscape.min.js': { file: 'cytoscape.min.js', contentType: 'text/javascript; charset=utf-8' },
});

/** A page file's answer: always with its headers and a text body. */
export interface PageAnswer extends RouteAnswer {
  headers: Readonly<Record<string, string>>;
  body: string;
}

/** Where the page's source files are read from; overridable for tests. */
export interface PageRouteOptions {
  /** Folder holding `index.html`, `app.js`, `layout.js`, `app.css`; default {@link defaultPageDir}. */
  pageDir?: string;
  /** Path of cytoscape's browser bundle; default `require.resolve('cytoscape/dist/cytoscape.min.js')`. */
  cytoscapePath?: string;
}

const HEADERS = Object.freeze({ 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });

/**
 * `adapters/graph/page` in the source tree. Compiled code runs from `dist/adapters/graph`, and the
 * page files are not compiled, so they are read from the source folder (three levels up from dist).
 */
export function defaultPageDir(): string {
  const fromDist = path.resolve(__dirname, '..', '..', '..', 'adapters', 'graph', 'page');
  if (fs.existsSync(fromDist)) return fromDist;
  // Run from source (ts-node): the folder is next to this file.
  return path.resolve(__dirname, 'page');
}

/**
 * Reads the page files once (at handler create) and answers them from memory, with
 * `Cache-Control: no-cache`. When a file cannot be read (e.g. a build shipped without
 * `adapters/graph/page`), logs one warning and answers every page path with a 503 saying what is
 * missing; `/v1/graph` is not affected.
 */
export function pageRoutes(logger: Logger, opts: PageRouteOptions = {}): Record<string, AdapterRoute> {
  const dir = opts.pageDir ?? defaultPageDir();
  const bodies = new Map<string, string>();
  let problem: string | undefined;
  try {
    if (!fs.statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
    const cytoscape = opts.cytoscapePath ?? require.resolve('cytoscape/dist/cytoscape.min.js');
    for (const [route, { file }] of Object.entries(PAGE_FILES)) {
      bodies.set(route, fs.readFileSync(file === 'cytoscape.min.js' ? cytoscape : path.join(dir, file), 'utf8'));
    }
  } catch (err) {
    problem = `graph page unavailable: ${(err as Error).message}`;
    logger.warn({ pageDir: dir, err: (err as Error).message }, 'graph: page files not found; /graph answers 503 (GET /v1/graph still works)');
  }
  const routes: Record<string, AdapterRoute> = {};
  for (const [route, { contentType }] of Object.entries(PAGE_FILES)) {
    const answer: PageAnswer =
      problem === undefined
        ? { contentType, headers: HEADERS, body: bodies.get(route)! }
        : { status: 503, contentType: 'text/plain; charset=utf-8', headers: HEADERS, body: `${problem}\n` };
    routes[route] = () => answer;
  }
  return routes;
}
