import type { CheckResult, Handler, QuotaResult } from '../../src/sdk';
import type { DenierSettings } from './config';

/** Answers every check with the configured status and grants no quota. Stateless; close is a no-op. */
export class DenierHandler implements Handler {
  constructor(private readonly settings: DenierSettings) {}

  /** The configured status, cacheable for `validDuration` ms and `validUseCount` uses. */
  check(): CheckResult {
    const s = this.settings;
    return { status: { ...s.status }, validDuration: s.validDuration, validUseCount: s.validUseCount };
  }

  /** Grants 0, with the configured status, valid for `validDuration` ms. */
  quota(): QuotaResult {
    const s = this.settings;
    return { grantedAmount: 0, validDuration: s.validDuration, status: { ...s.status } };
  }

  close(): void {}
}
