import type { AdapterEnv, AdapterFactory } from '../../src/sdk';
import { DecisionLogParams, resolveSettings } from './config';
import type { DecisionLogConfig } from './config';
import { DecisionLogHandler } from './handler';

/**
 * `decisionlog`: records every check decision (verdict, deciding rules and handlers, referenced
 * attributes and values, config generation, caller) to stdout, a rotated file, an HTTP endpoint or a
 * capped Redis stream, sampled and masked. It takes no instances: it declares the `decisions`
 * capability and needs no Rule. See README.md.
 */
export const decisionlogAdapter: AdapterFactory<DecisionLogConfig> = {
  name: 'decisionlog',
  description: 'Decision logs: every check decision, sampled (denials always kept) and masked, to stdout, a file, HTTP (OPA shape) or a Redis stream.',
  templates: [],
  capabilities: ['decisions'],
  configSchema: DecisionLogParams,
  /** Rejects when the sink cannot be used (file not writable, `redis` without Redis, a bad mask entry). */
  create(config: DecisionLogConfig, env: AdapterEnv): Promise<DecisionLogHandler> {
    return DecisionLogHandler.open(resolveSettings(config), env);
  },
};
