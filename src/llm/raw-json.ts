/**
 * Edits of JSON text that leave every other byte as it was: a request passed through to a
 * provider of its own protocol keeps its exact form (key order, number forms, escapes, fields
 * nexus does not know) but for the model name nexus replaces.
 *
 * The scanner reads only as deep as the path it looks for and skips the rest by its brackets and
 * strings; it assumes the text is valid JSON (callers parse it first).
 */

/** Where a value lies in the text: [start, end). */
export type Span = [number, number];

const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

class Scanner {
  i = 0;
  constructor(readonly text: string) {}

  space(): void {
    while (this.i < this.text.length && WHITESPACE.has(this.text.charCodeAt(this.i))) this.i++;
  }

  /** Past the string starting at `i` (a `"`). */
  string(): void {
    const { text } = this;
    let j = this.i + 1;
    for (;;) {
      const quote = text.indexOf('"', j);
      if (quote < 0) throw new SyntaxError('unterminated string');
      // A quote preceded by an odd number of backslashes is escaped.
      let slashes = 0;
      while (text.charCodeAt(quote - 1 - slashes) === 0x5c) slashes++;
      j = quote + 1;
      if (slashes % 2 === 0) break;
    }
    this.i = j;
  }

  /** Past the value starting at `i`. */
  value(): void {
    const { text } = this;
    const first = text.charCodeAt(this.i);
    if (first === 0x22) return this.string();
    if (first !== 0x7b && first !== 0x5b) {
      while (this.i < text.length && !',}] \t\n\r'.includes(text[this.i] as string)) this.i++;
      return;
    }
    let depth = 0;
    do {
      const ch = text.charCodeAt(this.i);
      if (ch === 0x22) {
        this.string();
        continue;
      }
      if (ch === 0x7b || ch === 0x5b) depth++;
      else if (ch === 0x7d || ch === 0x5d) depth--;
      this.i++;
    } while (depth > 0 && this.i < text.length);
  }

  /** The spans of the values of `key` in the object starting at `i` (all of them: JSON may repeat a key). */
  valuesOf(key: string, found: Span[] = []): Span[] {
    const { text } = this;
    this.space();
    if (text[this.i] !== '{') return found;
    this.i++;
    for (;;) {
      this.space();
      if (text[this.i] !== '"') return found;
      const keyStart = this.i;
      this.string();
      // A key is read as JSON only when it has escapes: the rest compare as they are.
      const raw = text.slice(keyStart + 1, this.i - 1);
      const name = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
      this.space();
      this.i++; // the colon
      this.space();
      const start = this.i;
      this.value();
      if (name === key) found.push([start, this.i]);
      this.space();
      if (text[this.i] !== ',') return found;
      this.i++;
    }
  }
}

/**
 * The spans of the value at `path` (keys of nested objects) in `text`: one normally, none when
 * absent, several when the text repeats a key on the way.
 */
export function spansAt(text: string, path: readonly string[]): Span[] {
  let spans: Span[] = [[0, text.length]];
  for (const key of path) {
    spans = spans.flatMap(([start]) => {
      const scanner = new Scanner(text);
      scanner.i = start;
      return scanner.valuesOf(key);
    });
  }
  return spans;
}

/** `text` with the value at `path` replaced by `value` (as JSON), everywhere it occurs; as it was when absent. */
export function replaceAt(text: string, path: readonly string[], value: unknown): string {
  const spans = spansAt(text, path);
  if (spans.length === 0) return text;
  const json = JSON.stringify(value);
  let out = '';
  let from = 0;
  for (const [start, end] of spans.sort((a, b) => a[0] - b[0])) {
    out += text.slice(from, start) + json;
    from = end;
  }
  return out + text.slice(from);
}

/** `text` (a JSON object) with `key: value` added first, every other byte kept. */
export function withFirstKey(text: string, key: string, value: unknown): string {
  const open = text.indexOf('{');
  const rest = text.slice(open + 1);
  const empty = rest.trimStart().startsWith('}');
  return `${text.slice(0, open + 1)}${JSON.stringify(key)}:${JSON.stringify(value)}${empty ? '' : ','}${rest}`;
}
