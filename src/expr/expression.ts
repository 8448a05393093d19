import type { AttributeReader, AttributeValue, Vocabulary } from '../attributes/types';

/** A compiled expression: reads attributes through the reader, undefined when nothing is present. */
export type Evaluator = (facts: AttributeReader) => AttributeValue | undefined;

/** A problem in an expression's text, with the reason. */
export class ExpressionError extends Error {}

type Term = { kind: 'literal'; value: AttributeValue } | { kind: 'attr'; name: string } | { kind: 'index'; name: string; key: string };

const NAME = /^[a-zA-Z_][a-zA-Z0-9_.-]*$/;
const INDEX = /^([a-zA-Z_][a-zA-Z0-9_.-]*)\[\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*\]$/;
const NUMBER = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

/** Splits on `|` outside quotes and brackets. */
function splitAlternatives(text: string): string[] {
  const parts: string[] = [];
  let quote = '';
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[') depth++;
    else if (c === ']') depth--;
    else if (c === '|' && depth === 0) {
      if (text[i + 1] === '|') throw new ExpressionError('`||` is not an operator here; use `|` for "first that is present" or a switch for conditions');
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (quote) throw new ExpressionError(`unterminated string in ${JSON.stringify(text)}`);
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

function unquote(body: string): string {
  return body.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c));
}

function parseTerm(text: string, vocab: Vocabulary | undefined): Term {
  if (text === '') throw new ExpressionError('empty term');
  const q = text[0];
  if ((q === '"' || q === "'") && text.length >= 2 && text[text.length - 1] === q) {
    return { kind: 'literal', value: unquote(text.slice(1, -1)) };
  }
  if (text === 'true' || text === 'false') return { kind: 'literal', value: text === 'true' };
  if (NUMBER.test(text)) return { kind: 'literal', value: Number(text) };
  const idx = INDEX.exec(text);
  if (idx) {
    const name = idx[1];
    checkDeclared(name, vocab, true);
    return { kind: 'index', name, key: unquote(idx[2] ?? idx[3] ?? '') };
  }
  if (NAME.test(text)) {
    checkDeclared(text, vocab, false);
    return { kind: 'attr', name: text };
  }
  throw new ExpressionError(`cannot parse ${JSON.stringify(text)}: expected an attribute name, name["key"], a quoted string, a number or true/false`);
}

function checkDeclared(name: string, vocab: Vocabulary | undefined, isIndex: boolean): void {
  if (!vocab) return;
  const type = vocab.get(name);
  if (type === undefined) throw new ExpressionError(`attribute ${name} is not declared in any AttributeManifest`);
  if (isIndex && type !== 'STRING_MAP') throw new ExpressionError(`attribute ${name} is ${type}, not STRING_MAP: it cannot be indexed`);
}

function termEvaluator(t: Term): Evaluator {
  switch (t.kind) {
    case 'literal': {
      const v = t.value;
      return () => v;
    }
    case 'attr': {
      const n = t.name;
      return (f) => f.get(n);
    }
    case 'index': {
      const n = t.name;
      const k = t.key;
      return (f) => f.getKey(n, k);
    }
  }
}

/**
 * Compiles an expression: an attribute name, a map index (`source.labels["app"]`), a literal
 * (`"x"`, `1`, `true`), or alternatives joined by `|` (the first that is present).
 * Non-string YAML values (numbers, booleans) are literals. With a vocabulary, every attribute
 * named must be declared. Throws {@link ExpressionError}.
 */
export function compileExpression(source: string | number | boolean, vocab?: Vocabulary): Evaluator {
  if (typeof source !== 'string') {
    const v = source;
    return () => v;
  }
  const terms = splitAlternatives(source.trim()).map((p) => parseTerm(p, vocab));
  const evals = terms.map(termEvaluator);
  if (evals.length === 1) return evals[0];
  if (evals.length === 2) {
    const [a, b] = evals;
    return (f) => {
      const v = a(f);
      return v !== undefined ? v : b(f);
    };
  }
  return (f) => {
    for (const e of evals) {
      const v = e(f);
      if (v !== undefined) return v;
    }
    return undefined;
  };
}
