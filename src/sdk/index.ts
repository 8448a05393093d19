/**
 * The adapter SDK: what an operator needs to write, test and ship an adapter as a plugin
 * (see docs/writing-an-adapter.md). This is the package's main module; it starts nothing.
 *
 * - The contract: {@link AdapterFactory} (name, templates, config schema, `create`), the
 *   {@link Handler} it creates, the {@link AdapterEnv} it is given, and the values that cross it.
 * - Errors: {@link PermanentError} / {@link isPermanent} (no retry), {@link RouteError}, {@link Code}.
 * - Params: {@link validateParams} and the schema helpers {@link GoDuration}, {@link StringEnum};
 *   {@link parseDuration} turns a Go duration into milliseconds.
 * - Tests: {@link runAdapterConformance} (the kit every adapter's tests call) and
 *   {@link createAdapterEnv} (an env like the one Mixer gives, for a plugin's own tests).
 * - {@link TEMPLATES}: every template Mixer knows, with its variety and fields.
 * - {@link compileLinearRegex}: config regexes in linear time (inputs capped at {@link MAX_REGEX_INPUT}).
 */
export { Code, PermanentError, RouteError, isPermanent } from './adapter';
export type {
  AdapterEnv,
  AdapterFactory,
  AdapterRoute,
  AdapterTimers,
  CheckResult,
  Handler,
  InstanceValue,
  QuotaArgs,
  QuotaResult,
  ReportContext,
  RedisConnection,
  RouteAnswer,
  Status,
} from './adapter';
export { ADAPTER_CAPABILITIES } from './decision';
export type { AdapterCapability, CallerIdentity, DestinationIdentity, DecisionCall, DecisionHandlerMethod, DecisionRecord, ReferencedValue } from './decision';
export { DEFAULT_REDACTED_HEADERS, REDACTED_VALUE, redactHeaders } from '../attributes/redact';
export { CLAIM_JOB_LUA, JobMarkers } from './job-markers';
export { connectRedis } from '../base/redis-connect';
export type { RedisSpec } from '../base/redis-connect';
export { spreadTags } from '../base/hash-tags';
export { isTruncatedLabelValue, truncateLabelValue } from './label-value';
export type { ThrottledLog } from '../base/throttled-log';
export { GO_DURATION_FORMAT, GoDuration, StringEnum, validateParams } from './params';
export type { ParamsResult } from './params';
export { parseDuration } from '../attributes/duration';
export { runAdapterConformance } from './conformance';
export type { ConformanceOptions, ReportScenario } from './conformance';
export { createAdapterEnv } from './env';
export type { AdapterEnvOptions, OwnedAdapterEnv } from './env';
export { TEMPLATES } from '../templates/templates';
export type { TemplateField, TemplateInfo, TemplateName, TemplateVariety } from '../templates/templates';
export type { ErrorDetail } from '../base/errors';
export { MAX_REGEX_INPUT, compileLinearRegex, testCapped } from '../base/linear-regex';
