/**
 * A nesting bound for untrusted YAML, checked before the text is composed into documents.
 *
 * The `yaml` library composes nested collections recursively. Around 800 levels (a 1 KB body of `[`
 * or `- `), a second parse in the same process aborts Node with "RegExpCompiler Allocation failed -
 * process out of memory": V8 compiles a regular expression with the stack nearly used up and treats
 * the failure as fatal, which no `try` can catch. Its lexer and CST parser are not recursive: their
 * stack of open collections gives the depth cheaply and safely, and text nested deeper than any real
 * config is refused before it reaches the composer.
 */
import { Lexer, Parser } from 'yaml';

/** Most collections open at once in one config text (real configs nest about 12 deep). */
export const MAX_YAML_DEPTH = 100;

/** Why `text` is refused (nested deeper than {@link MAX_YAML_DEPTH}), or undefined when it may be parsed. */
export function yamlDepthProblem(text: string): string | undefined {
  const parser = new Parser();
  for (const lexeme of new Lexer().lex(text)) {
    for (const token of parser.next(lexeme)) void token; // documents are discarded: only the depth matters
    if (parser.stack.length > MAX_YAML_DEPTH) return `YAML: collections are nested more than ${MAX_YAML_DEPTH} deep`;
  }
  return undefined;
}
