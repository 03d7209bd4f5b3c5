/** Splits text into lower-case search terms: words, snake_case, camelCase, kebab-case, digits. */
const CAMEL_BOUNDARY = /([a-z0-9])([A-Z])|([A-Z])([A-Z][a-z])/g;
const NON_WORD = /[^\p{L}\p{N}]+/u;

export function tokenize(text: string): string[] {
  const spaced = text.replace(CAMEL_BOUNDARY, (_, a, b, c, d) => (a ? `${a} ${b}` : `${c} ${d}`));
  return spaced
    .split(NON_WORD)
    .filter((term) => term !== '')
    .map((term) => term.toLowerCase());
}
