/** Splits text into lower-case search terms: words, snake_case, camelCase, kebab-case, digits. */

// A space goes after "t" in "getUrl" and after "P" in "HTTPServer"; plural acronyms ("URLs",
// "IDs") stay whole. Lookaheads, so one boundary never swallows the start of the next.
const CAMEL_BOUNDARY = /([a-z0-9])(?=[A-Z])|([A-Z])(?=[A-Z][a-z]{2,})/g;
const NON_WORD = /[^\p{L}\p{N}]+/u;

export function tokenize(text: string): string[] {
  return text
    .replace(CAMEL_BOUNDARY, '$1$2 ')
    .split(NON_WORD)
    .filter((term) => term !== '')
    .map((term) => term.toLowerCase());
}
