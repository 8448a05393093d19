/**
 * Attribute value types (Istio's vocabulary) and the typed bag every part of Mixer reads.
 *
 * Decoded representation of each type (what conditions, expressions and adapters see):
 * - STRING, DNS_NAME, EMAIL_ADDRESS, URI: string
 * - INT64: integer number within ±(2^53−1); DOUBLE: number; BOOL: boolean
 * - TIMESTAMP: milliseconds since the Unix epoch (number, sub-millisecond precision kept as a fraction)
 * - DURATION: milliseconds (number), decoded from Go-style strings such as `"150ms"` or `"1.5s"`
 * - IP_ADDRESS: the address as text, normalised (IPv4 dotted, IPv6 RFC 5952)
 * - STRING_MAP: a frozen object of string values
 * - BYTES: base64 text
 */
export const VALUE_TYPES = [
  'STRING',
  'INT64',
  'DOUBLE',
  'BOOL',
  'TIMESTAMP',
  'DURATION',
  'IP_ADDRESS',
  'STRING_MAP',
  'DNS_NAME',
  'EMAIL_ADDRESS',
  'URI',
  'BYTES',
] as const;

export type ValueType = (typeof VALUE_TYPES)[number];

/** A decoded attribute value (see the type table above). */
export type AttributeValue = string | number | boolean | Readonly<Record<string, string>>;

/** Declared attributes: name → type. Built from every AttributeManifest in the config. */
export type Vocabulary = ReadonlyMap<string, ValueType>;

/** How a decision depended on an attribute: its value, or its absence. */
export type ReferenceCondition = 'EXACT' | 'ABSENCE';

/** One attribute (or one key of a STRING_MAP attribute) that a check decision read. */
export interface ReferencedAttribute {
  name: string;
  key?: string;
  condition: ReferenceCondition;
}

/**
 * Read access to an attribute bag. Everything after decoding (rules, expressions, adapters)
 * reads attributes only through this interface, so check can record what a decision read.
 */
export interface AttributeReader {
  /** The value of `name`, or undefined when the bag does not carry it. */
  get(name: string): AttributeValue | undefined;
  /** The value of key `key` of STRING_MAP attribute `name`, or undefined. */
  getKey(name: string, key: string): string | undefined;
}
