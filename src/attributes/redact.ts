/**
 * Credentials kept out of telemetry. Header values that are credentials (bearer tokens, session
 * cookies) would otherwise travel in every report bag into the queue, Redis, dead letters and any
 * adapter. The proxies redact them where they build report bags, and Mixer again before it queues
 * a report (for clients that are not our proxies). The list is configurable: `MIXER_REDACT_HEADERS`
 * on Mixer, `MIXER_SIDECAR_REDACT_HEADERS` / `MIXER_INGRESS_REDACT_HEADERS` on the proxies (see
 * {@link parseRedactedHeaders}).
 */

/** Header names (lower-case) redacted by default. */
export const DEFAULT_REDACTED_HEADERS: readonly string[] = Object.freeze(['authorization', 'cookie', 'proxy-authorization', 'set-cookie']);

/** What a redacted header value is replaced with (the header stays, so that its presence can still be seen). */
export const REDACTED_VALUE = '<masked>';

/** The STRING_MAP attributes of the default vocabulary that hold headers. */
export const HEADER_ATTRIBUTES: readonly string[] = Object.freeze(['request.headers', 'response.headers']);

const DEFAULT_SET: ReadonlySet<string> = new Set(DEFAULT_REDACTED_HEADERS);

/**
 * The header names a setting asks to redact: unset gives {@link DEFAULT_REDACTED_HEADERS}; `none`
 * (or an empty string) redacts nothing; otherwise a comma-separated list of names (case-insensitive),
 * which replaces the defaults (write them too to keep them).
 */
export function parseRedactedHeaders(text: string | undefined): ReadonlySet<string> {
  if (text === undefined) return DEFAULT_SET;
  const t = text.trim();
  if (t === '' || t.toLowerCase() === 'none') return new Set();
  return new Set(
    t
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== ''),
  );
}

/** True when `name` (any case) is redacted by default. */
export function isCredentialHeader(name: string): boolean {
  return DEFAULT_SET.has(name.toLowerCase());
}

/**
 * `headers` with the value of every name in `names` (lower case; header names compared ignoring
 * case) replaced by {@link REDACTED_VALUE}. Returns `headers` itself when nothing needs to change,
 * else a copy; the argument is never modified.
 */
export function redactHeaders<T>(headers: Readonly<Record<string, T>>, names: ReadonlySet<string> = DEFAULT_SET): Readonly<Record<string, T | string>> {
  if (names.size === 0) return headers;
  let out: Record<string, T | string> | undefined;
  for (const k in headers) {
    if (!Object.hasOwn(headers, k) || headers[k] === REDACTED_VALUE || !names.has(k.toLowerCase())) continue;
    out ??= { ...headers };
    out[k] = REDACTED_VALUE;
  }
  return out ?? headers;
}

/**
 * `bag` with the header maps of {@link HEADER_ATTRIBUTES} passed through {@link redactHeaders}.
 * Returns `bag` itself when nothing needs to change, else a shallow copy; never modifies it.
 */
export function redactBag<V>(bag: Readonly<Record<string, V>>, names: ReadonlySet<string> = DEFAULT_SET): Readonly<Record<string, V>> {
  if (names.size === 0) return bag;
  let out: Record<string, V> | undefined;
  for (const attr of HEADER_ATTRIBUTES) {
    const map = bag[attr];
    if (typeof map !== 'object' || map === null || Array.isArray(map) || map instanceof Date || ArrayBuffer.isView(map)) continue;
    const redacted = redactHeaders(map as Readonly<Record<string, unknown>>, names);
    if (redacted === (map as unknown)) continue;
    out ??= { ...bag };
    out[attr] = Object.freeze(redacted) as V;
  }
  return out ?? bag;
}
