/** Control characters the exposition format cannot carry in a label value (it escapes only `\`, `"` and LF). */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex
const UNSAFE_ALL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

/** What stands for each unsafe character: U+FFFD, visible in a scrape and in PromQL. */
export const REPLACEMENT = '\ufffd';

/**
 * A label value that is safe to render: CR, NUL and the other control characters (but tab and LF,
 * which the format handles) replaced by {@link REPLACEMENT}, so that a reported value can neither
 * split a line of `/metrics` nor end a string early for a client in C. Other text is unchanged.
 */
export function safeLabelValue(text: string): string {
  return UNSAFE.test(text) ? text.replace(UNSAFE_ALL, REPLACEMENT) : text;
}
