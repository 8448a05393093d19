import { isScalar, parse as parseYaml, visit } from 'yaml';
import type { Document, Scalar } from 'yaml';

const REF = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/;

/** A `${VAR}` that could not be resolved, with the YAML node it sits in. */
export interface SubstError {
  node: Scalar;
  reason: string;
}

/**
 * Replaces `${VAR}` and `${VAR:-default}` (default when unset or empty, as in a shell) in every
 * string scalar of a parsed YAML document, in place; `$$` stands for a literal `$`.
 * An unquoted scalar that is exactly one reference takes the YAML type of its value
 * (`maxAmount: ${LIMIT:-10}` is the number 10). An unset variable without a default is an error.
 */
export function substituteEnv(doc: Document, env: NodeJS.ProcessEnv): SubstError[] {
  const errors: SubstError[] = [];
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string' || !node.value.includes('$')) return;
      const text = node.value;
      const missing: string[] = [];
      const replaced = text.replace(REF, (all: string, name: string | undefined, def: string | undefined) => {
        if (all === '$$') return '$';
        const value = env[name!];
        if (def !== undefined) return value === undefined || value === '' ? def : value;
        if (value === undefined) {
          missing.push(name!);
          return '';
        }
        return value;
      });
      if (missing.length > 0) {
        errors.push({ node, reason: `environment variable ${missing.join(', ')} is not set and has no default (use \${${missing[0]}:-default})` });
        return;
      }
      if (node.type === 'PLAIN' && WHOLE.test(text)) {
        const typed: unknown = parseYaml(replaced === '' ? '""' : replaced);
        node.value = isScalar(typed) ? typed.value : typed === null || typeof typed === 'object' ? replaced : typed;
      } else {
        node.value = replaced;
      }
    },
  });
  return errors;
}
