/**
 * Keeping secrets out of what nexus says. Two kinds of text need it:
 * - error texts from HTTP clients often quote the URL they failed on, and a URL may carry
 *   credentials (`user:pass@`) or keys in its query: `redactUrls` replaces both;
 * - a downstream server or an LLM provider may echo nexus's own credentials back (an error quoting
 *   the token it was sent, a debugging tool listing its request headers): a `Redactor` replaces
 *   every configured secret wherever it turns up in a result, an error or a log line.
 */
const URL_IN_TEXT = /\b(https?|wss?|rediss?):\/\/([^\s"'<>]+)/gi;

export function redactUrls(text: string): string {
  return text.replace(URL_IN_TEXT, (_, scheme: string, rest: string) => {
    const withoutUser = rest.replace(/^[^/?#@]*@/, '…@');
    return `${scheme}://${withoutUser.replace(/\?[^#]*/, '?…')}`;
  });
}

/** What a secret is replaced with. */
const REDACTED = '[redacted]';
/** Shorter values are not treated as secrets: they would match ordinary words. No real credential is this short. */
const MIN_SECRET_LENGTH = 8;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** One alternation of `forms`, longest first (so a secret that contains another is replaced whole). */
const alternation = (forms: Iterable<string>) =>
  new RegExp(
    [...new Set(forms)]
      .sort((a, b) => b.length - a.length)
      .map(escapeRegExp)
      .join('|'),
    'g',
  );

export class Redactor {
  /** Redacts nothing: for tests and configs without secrets. */
  static readonly none = new Redactor([]);
  private readonly secrets: readonly string[];
  /** Every secret, longest first. */
  private readonly pattern: RegExp | undefined;

  constructor(secrets: Iterable<string | undefined>) {
    this.secrets = [
      ...new Set([...secrets].filter((secret): secret is string => secret !== undefined && secret.length >= MIN_SECRET_LENGTH)),
    ];
    if (this.secrets.length > 0) this.pattern = alternation(this.secrets);
  }

  /** Whether there is anything to redact (when not, every method returns its input). */
  get active(): boolean {
    return this.pattern !== undefined;
  }

  /** This redactor plus `more` secrets (a caller's own token, say). */
  with(more: Iterable<string | undefined>): Redactor {
    return new Redactor([...this.secrets, ...more]);
  }

  text(text: string): string {
    return this.pattern ? text.replace(this.pattern, REDACTED) : text;
  }

  /**
   * `value` with every secret in its strings (and keys) replaced: the value itself, not a copy,
   * when it holds none (the common case, checked without copying anything); else a copy, string by
   * string. Walked without recursion either way: values from servers may nest deeper than the stack.
   */
  value<T>(value: T): T {
    if (!this.pattern || !this.holdsSecret(value)) return value;
    return this.copy(value) as T;
  }

  private has(text: string): boolean {
    const pattern = this.pattern as RegExp;
    pattern.lastIndex = 0;
    return pattern.test(text);
  }

  private holdsSecret(value: unknown): boolean {
    const pending: unknown[] = [value];
    while (pending.length > 0) {
      const node = pending.pop();
      if (typeof node === 'string') {
        if (this.has(node)) return true;
      } else if (Array.isArray(node)) {
        for (const child of node) pending.push(child);
      } else if (node !== null && typeof node === 'object') {
        for (const key in node) {
          if (this.has(key)) return true;
          pending.push((node as Record<string, unknown>)[key]);
        }
      }
    }
    return false;
  }

  /** A copy of `value` with secrets replaced in every string and key. */
  private copy(value: unknown): unknown {
    const copied = (node: unknown, pending: [source: object, target: Record<string, unknown>][]): unknown => {
      if (typeof node === 'string') return this.text(node);
      if (node === null || typeof node !== 'object') return node;
      const target: Record<string, unknown> = Array.isArray(node) ? (new Array(node.length) as unknown as Record<string, unknown>) : {};
      pending.push([node, target]);
      return target;
    };
    const pending: [source: object, target: Record<string, unknown>][] = [];
    const root = copied(value, pending);
    while (pending.length > 0) {
      const [source, target] = pending.pop() as [object, Record<string, unknown>];
      for (const [key, child] of Object.entries(source)) {
        // defineProperty: a key "__proto__" stays a key instead of setting the copy's prototype.
        Object.defineProperty(target, Array.isArray(source) ? key : this.text(key), {
          value: copied(child, pending),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    }
    return root;
  }
}
