import type { AdapterEnv, AdapterFactory } from '../../src/sdk';
import { DenierParams, resolveDenierConfig } from './config';
import type { DenierConfig } from './config';
import { DenierHandler } from './handler';

/** `denier`: answers every check (and quota) with a fixed status. See README.md. */
export const denierAdapter: AdapterFactory<DenierConfig> = {
  name: 'denier',
  description: 'Answers every check with a configured status (default PERMISSION_DENIED) and grants no quota.',
  templates: ['checknothing', 'listentry', 'quota'],
  configSchema: DenierParams,
  create(config: DenierConfig, _env: AdapterEnv): DenierHandler {
    return new DenierHandler(resolveDenierConfig(config));
  },
};
