import type { AdapterEnv, AdapterFactory } from '../../src/sdk';
import { resolveStdioConfig, StdioParams } from './config';
import type { StdioConfig } from './config';
import { StdioHandler } from './handler';

/** `stdio`: `logentry` instances as JSON lines on stdout, stderr or a file (Istio 1.4's stdio). See README.md. */
export const stdioAdapter: AdapterFactory<StdioConfig> = {
  name: 'stdio',
  description: 'Writes logentry instances as JSON lines (level, time, instance, variables) to stdout, stderr or a file.',
  templates: ['logentry'],
  configSchema: StdioParams,
  /** Rejects when `logStream: FILE` and `outputPath` cannot be opened for appending. */
  create(config: StdioConfig, env: AdapterEnv): Promise<StdioHandler> {
    return StdioHandler.open(resolveStdioConfig(config), env);
  },
};
