import type { AdapterEnv, AdapterFactory } from '../../src/sdk';
import { ListParams, resolveListConfig } from './config';
import type { ListConfig } from './config';
import { ListHandler } from './handler';

/** `list`: whitelist/blacklist checks of a `listentry` value (Istio 1.4's list adapter). See README.md. */
export const listAdapter: AdapterFactory<ListConfig> = {
  name: 'list',
  description: 'Checks a value against a whitelist or blacklist of strings, case-insensitive strings, IP networks or regexes.',
  templates: ['listentry'],
  configSchema: ListParams,
  /** Resolves when the first load is done; rejects for invalid overrides or an unreadable `file`. */
  async create(config: ListConfig, env: AdapterEnv): Promise<ListHandler> {
    return ListHandler.create(resolveListConfig(config), env);
  },
};
