import type { AdapterEnv, AdapterFactory } from '../../src/sdk';
import { ZipkinParams, resolveZipkinConfig } from './config';
import type { ZipkinConfig } from './config';
import { ZipkinHandler } from './handler';

/**
 * `zipkin`: sends `tracespan` instances to Zipkin as v2 JSON spans (`POST {url}/api/v2/spans`), each
 * batch's outcome known to the core (retryable or permanent errors). An empty `url` disables it. See README.md.
 */
export const zipkinAdapter: AdapterFactory<ZipkinConfig> = {
  name: 'zipkin',
  description: 'Sends trace spans built from B3 headers to Zipkin (v2 JSON over HTTP), with sampling and at-least-once delivery.',
  templates: ['tracespan'],
  configSchema: ZipkinParams,
  /** Throws for a `url` that is not http(s) or a zero `timeout`. Opens no connection until the first report. */
  create(config: ZipkinConfig, env: AdapterEnv): ZipkinHandler {
    return new ZipkinHandler(resolveZipkinConfig(config), env);
  },
};
