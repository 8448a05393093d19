import type { AttributeValue } from './types';

/**
 * Header names (lower case) whose values are credentials: masked by default wherever Mixer shows or
 * keeps request data it does not need verbatim (the live tap, decision logs, sidecar reports).
 */
export const CREDENTIAL_HEADERS: readonly string[] = Object.freeze(['authorization', 'cookie', 'proxy-authorization', 'set-cookie']);

/** What a masked value is replaced with. */
export const MASKED = '<masked>';

const CREDENTIAL_SET: ReadonlySet<string> = new Set(CREDENTIAL_HEADERS);

/** True when `name` (any case) is one of {@link CREDENTIAL_HEADERS}. */
export function isCredentialHeader(name: string): boolean {
  return CREDENTIAL_SET.has(name.toLowerCase());
}

/**
 * A header map with every key in `names` (default {@link CREDENTIAL_HEADERS}; compared ignoring case)
 * replaced by {@link MASKED}. Returns `headers` itself, not a copy, when nothing needs masking, so the
 * common case allocates nothing; never changes its argument.
 */
export function maskHeaders(headers: Readonly<Record<string, string>>, names: ReadonlySet<string> = CREDENTIAL_SET): Readonly<Record<string, string>> {
  let out: Record<string, string> | undefined;
  for (const k in headers) {
    if (!Object.prototype.hasOwnProperty.call(headers, k) || !names.has(k.toLowerCase())) continue;
    out ??= { ...headers };
    out[k] = MASKED;
  }
  return out ?? headers;
}

/** Attributes that carry headers (STRING_MAP, keys lower case): the ones {@link maskCredentials} looks into. */
export const HEADER_ATTRIBUTES: readonly string[] = Object.freeze(['request.headers', 'response.headers']);

/**
 * Attribute values with the credential headers of {@link HEADER_ATTRIBUTES} masked. Returns `values`
 * itself when there is nothing to mask.
 */
export function maskCredentials(values: Readonly<Record<string, AttributeValue>>): Readonly<Record<string, AttributeValue>> {
  let out: Record<string, AttributeValue> | undefined;
  for (const name of HEADER_ATTRIBUTES) {
    const v = values[name];
    if (v === undefined || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(values, name)) continue;
    const masked = maskHeaders(v);
    if (masked !== v) (out ??= { ...values })[name] = masked;
  }
  return out ?? values;
}
