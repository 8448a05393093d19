import express from 'express';
import type { NextFunction, Request, RequestHandler, Response, Router } from 'express';
import { parseAllDocuments, stringify } from 'yaml';
import { ConfigError, MixerError } from '../../base/errors';
import type { ErrorDetail } from '../../base/errors';
import { DEFAULT_NAMESPACE, KINDS } from '../../config/schema';
import { API_SOURCE, configKey, rawDocument } from '../../config/api-store';
import type { ConfigChange } from '../../config/api-store';
import { documentToJs, parseConfigText } from '../../config/load';
import { yamlDepthProblem } from '../../config/yaml-depth';
import { locate } from '../../config/source';
import type { ConfigObject } from '../../config/source';
import type { ConfigStore } from '../../runtime/config-store';
import type { Snapshot } from '../../runtime/snapshot';
import { requireAdmin } from './admin';

/** Options of {@link configRoutes}. */
export interface ConfigRoutesOptions {
  /** The admin token (settings.adminToken); unset: every call answers 403 (the API is off). */
  adminToken?: string;
  /**
   * Largest PUT body, bytes (MIXER_MAX_CONFIG_BODY_BYTES, default 64 KiB): YAML parsing costs grow
   * faster than the size, so config bodies get a cap of their own, well under the check/report one.
   */
  maxBodyBytes: number;
}

const OBJECT_PATH = '/v1/config/:kind/:namespace/:name';
const JSON_TYPES = ['application/json'];
const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

/**
 * The run-time config API, behind the admin token:
 * `GET /v1/config` (`?kind=`, `?namespace=`) lists the live objects with their source;
 * `GET /v1/config/{Kind}/{namespace}/{name}` answers one (JSON, or YAML for `Accept: application/yaml`);
 * `PUT` creates (201) or replaces (200) an API object from one JSON or YAML document;
 * `DELETE` removes one (200). Changes are validated against the whole config and live here before the
 * answer; objects from files are read-only (409). `?dryRun=true` validates without changing anything.
 */
export function configRoutes(store: ConfigStore, opts: ConfigRoutesOptions): Router {
  const r = express.Router();
  r.use('/v1/config', requireAdmin(opts.adminToken));

  r.get('/v1/config', (req, res) => {
    const kind = queryString(req, 'kind');
    const namespace = queryString(req, 'namespace');
    if (kind !== undefined && !(KINDS as readonly string[]).includes(kind)) {
      throw new MixerError('MIXER_ERR_BAD_REQUEST', `unknown kind ${JSON.stringify(kind)}`, {
        details: [{ field: 'kind', reason: `expected one of ${KINDS.join(', ')}` }],
      });
    }
    const snap = live(store);
    const items = snap.plan.objects
      .filter((o) => (kind === undefined || o.kind === kind) && (namespace === undefined || o.namespace === namespace))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((o) => describe(store, o));
    res.json({ configGeneration: snap.generation, items });
  });
  r.all('/v1/config', methodNotAllowed('GET'));

  r.get(OBJECT_PATH, (req, res) => {
    const { key } = target(req);
    const o = live(store).plan.objects.find((x) => x.key === key);
    if (!o) throw new MixerError('MIXER_ERR_NOT_FOUND', `no config object ${key}`, { details: [{ field: key, reason: 'not in the live config' }] });
    const about = describe(store, o);
    res.set('x-mixer-source', about.source);
    if (about.file) res.set('x-mixer-file', encodeURI(about.file));
    if (YAML_TYPES.includes(String(req.accepts(['application/json', ...YAML_TYPES])))) {
      res.type('application/yaml').send(stringify(about.object));
    } else {
      res.json(about.object);
    }
  });

  r.put(OBJECT_PATH, requireMediaType, readText(opts.maxBodyBytes), async (req, res) => {
    const { kind, namespace, name, key } = target(req);
    const text = typeof req.body === 'string' ? req.body : '';
    if (text.trim() === '')
      throw new MixerError('MIXER_ERR_BAD_REQUEST', 'the body is empty: send one config document', { details: [{ field: 'body', reason: 'empty' }] });
    if (mediaType(req) === 'json') {
      try {
        JSON.parse(text);
      } catch (err) {
        throw new MixerError('MIXER_ERR_BAD_JSON', `the body is not valid JSON: ${(err as Error).message}`, {
          details: [{ field: 'body', reason: (err as Error).message }],
        });
      }
    }
    const raw = oneDocument(text);
    matchesUrl(raw, kind, namespace, name);
    const change: ConfigChange = { op: 'put', record: { key, text, updatedAt: new Date().toISOString() } };
    if (req.query.dryRun === 'true') return void res.json({ key, dryRun: true, valid: true, created: await dryRun(store, change) });
    const done = await store.applyChange(change);
    res.status(done.created ? 201 : 200).json({ key, source: 'api', created: done.created, configGeneration: done.generation, object: raw });
  });

  r.delete(OBJECT_PATH, async (req, res) => {
    const { key } = target(req);
    const change: ConfigChange = { op: 'delete', key };
    if (req.query.dryRun === 'true') {
      await dryRun(store, change);
      return void res.json({ key, dryRun: true, valid: true });
    }
    const done = await store.applyChange(change);
    res.json({ key, deleted: true, configGeneration: done.generation });
  });
  r.all(OBJECT_PATH, methodNotAllowed('GET, PUT, DELETE'));
  return r;
}

/** One live object as the API shows it: where it comes from, and its document. */
interface Described {
  kind: string;
  namespace: string;
  name: string;
  source: 'file' | 'api';
  /** `file:line` of a file object. */
  file?: string;
  /** When an API object was last written. */
  updatedAt?: string;
  /** An API object as it was sent; a file object as written (before `${VAR}` substitution: the API never shows the environment). */
  object: unknown;
}

function describe(store: ConfigStore, o: ConfigObject): Described {
  const base = { kind: o.kind, namespace: o.namespace, name: o.name };
  if (o.source.file !== API_SOURCE) return { ...base, source: 'file', file: locate(o.source, []), object: o.source.written ?? o.doc };
  const record = store.apiRecord(o.key);
  return { ...base, source: 'api', ...(record?.updatedAt ? { updatedAt: record.updatedAt } : {}), object: (record && rawDocument(record.text)) ?? o.doc };
}

function live(store: ConfigStore): Snapshot {
  if (!store.ready) throw new MixerError('MIXER_ERR_NOT_READY', 'no valid config is loaded yet', { retryable: true });
  return store.current;
}

function queryString(req: Request, name: string): string | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string')
    throw new MixerError('MIXER_ERR_BAD_REQUEST', `${name} must be given once`, { details: [{ field: name, reason: 'not a single value' }] });
  return v;
}

/** The object a URL names; an unknown kind is a 404 (kinds are exact: `Rule`, not `rule`). */
function target(req: Request): { kind: string; namespace: string; name: string; key: string } {
  const { kind, namespace, name } = req.params as Record<string, string>;
  if (!(KINDS as readonly string[]).includes(kind)) {
    throw new MixerError('MIXER_ERR_NOT_FOUND', `unknown kind ${JSON.stringify(kind)}: expected one of ${KINDS.join(', ')}`, {
      details: [{ field: 'kind', reason: 'unknown kind' }],
    });
  }
  return { kind, namespace, name, key: configKey(kind, namespace, name) };
}

function mediaType(req: Request): 'json' | 'yaml' | undefined {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  return JSON_TYPES.includes(type) ? 'json' : YAML_TYPES.includes(type) ? 'yaml' : undefined;
}

function requireMediaType(req: Request, _res: Response, next: NextFunction): void {
  if (mediaType(req)) return next();
  const got = req.headers['content-type'] ?? 'none';
  next(
    new MixerError('MIXER_ERR_UNSUPPORTED_MEDIA_TYPE', `Content-Type ${got} is not supported: send application/yaml or application/json`, {
      details: [{ field: 'content-type', reason: `got ${got}` }],
    }),
  );
}

/** The body as text, up to `limit` bytes; body-parser's errors become Mixer's. */
function readText(limit: number): RequestHandler {
  const parse = express.text({ type: () => true, limit });
  return (req, res, next) =>
    parse(req, res, (err?: unknown) => {
      if (!err) return next();
      const type = (err as { type?: string }).type;
      if (type === 'entity.too.large')
        return next(
          new MixerError('MIXER_ERR_BODY_TOO_LARGE', `config body is larger than ${limit} bytes (MIXER_MAX_CONFIG_BODY_BYTES)`, {
            details: [{ field: 'body', reason: `over ${limit} bytes` }],
          }),
        );
      if (type === 'charset.unsupported' || type === 'encoding.unsupported')
        return next(new MixerError('MIXER_ERR_UNSUPPORTED_MEDIA_TYPE', (err as Error).message));
      next(new MixerError('MIXER_ERR_BAD_REQUEST', `request body could not be read: ${(err as Error).message}`));
    });
}

/** The single document of a body, as sent. YAML problems: 400 CONFIG_INVALID with every one; several documents: 400. */
function oneDocument(text: string): unknown {
  const tooDeep = yamlDepthProblem(text);
  if (tooDeep !== undefined) throw new ConfigError('the body is not valid YAML: 1 problem(s)', [{ field: API_SOURCE, reason: tooDeep }]);
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  const list = Array.isArray(docs) ? docs.filter((d) => d.contents !== null || d.errors.length > 0) : [];
  if (list.some((d) => d.errors.length > 0)) {
    const { errors } = parseConfigText(text, API_SOURCE, null);
    throw new ConfigError(`the body is not valid YAML: ${errors.length} problem(s)`, errors);
  }
  if (list.length !== 1) {
    throw new MixerError('MIXER_ERR_BAD_REQUEST', `a PUT body is exactly one config document; found ${list.length}`, {
      details: [{ field: 'body', reason: `${list.length} documents` }],
    });
  }
  const js = documentToJs(list[0]);
  if ('reason' in js) throw new ConfigError('the body is not valid YAML: 1 problem(s)', [{ field: API_SOURCE, reason: js.reason }]);
  return js.value;
}

/** Kind, namespace and name of the body must be the URL's (an absent namespace means `default`). */
function matchesUrl(raw: unknown, kind: string, namespace: string, name: string): void {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return; // the schema check says what is wrong
  const doc = raw as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  const meta = typeof doc.metadata === 'object' && doc.metadata !== null ? doc.metadata : {};
  const details: ErrorDetail[] = [];
  const differ = (field: string, body: unknown, url: string, note = ''): void => {
    details.push({ field, reason: `the body says ${body === undefined ? 'nothing' : JSON.stringify(body)}${note}, the URL says ${JSON.stringify(url)}` });
  };
  if (doc.kind !== kind) differ('kind', doc.kind, kind);
  const ns = meta.namespace ?? DEFAULT_NAMESPACE;
  if (ns !== namespace) differ('metadata.namespace', meta.namespace, namespace, meta.namespace === undefined ? ` (so "${DEFAULT_NAMESPACE}")` : '');
  if (meta.name !== name) differ('metadata.name', meta.name, name);
  if (details.length > 0) {
    throw new MixerError('MIXER_ERR_BAD_REQUEST', `the body does not match the URL: ${details.map((d) => d.field).join(', ')}`, { details });
  }
}

/** Validates a change without applying it; answers whether a PUT would create the object. */
async function dryRun(store: ConfigStore, change: ConfigChange): Promise<boolean> {
  const { errors, created } = await store.validateChange(change);
  if (errors.length > 0) throw new ConfigError(`invalid: ${errors.length} problem(s) (dry run: nothing changed)`, errors);
  return created;
}

function methodNotAllowed(allowed: string): RequestHandler {
  return (req, res, next) => {
    res.set('allow', allowed);
    next(new MixerError('MIXER_ERR_METHOD_NOT_ALLOWED', `${req.method} ${req.path} is not allowed; use ${allowed}`));
  };
}
