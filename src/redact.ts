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
export const REDACTED = '[redacted]';
/** Shorter values are not treated as secrets: they would match ordinary words. No real credential is this short. */
export const MIN_SECRET_LENGTH = 8;

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
  /** The secrets as they appear in text. */
  private readonly inText: RegExp | undefined;
  /** The secrets as they appear inside JSON strings (escaped). */
  private readonly inJson: RegExp | undefined;

  constructor(secrets: Iterable<string | undefined>) {
    this.secrets = [
      ...new Set([...secrets].filter((secret): secret is string => secret !== undefined && secret.length >= MIN_SECRET_LENGTH)),
    ];
    if (this.secrets.length === 0) return;
    this.inText = alternation(this.secrets);
    this.inJson = alternation(this.secrets.map((secret) => JSON.stringify(secret).slice(1, -1)));
  }

  /** Whether there is anything to redact (when not, every method returns its input). */
  get active(): boolean {
    return this.inText !== undefined;
  }

  /** This redactor plus `more` secrets (a caller's own token, say). */
  with(more: Iterable<string | undefined>): Redactor {
    return new Redactor([...this.secrets, ...more]);
  }

  text(text: string): string {
    return this.inText ? text.replace(this.inText, REDACTED) : text;
  }

  /**
   * `value` with every secret in its strings (and keys) replaced; the value itself, not a copy,
   * when it holds none (the common case, checked without copying anything).
   */
  value<T>(value: T): T {
    if (!this.inJson || !this.holdsSecret(value)) return value;
    return JSON.parse(JSON.stringify(value).replace(this.inJson, REDACTED)) as T;
  }

  /** Whether a string anywhere in `value` holds a secret; walked without recursion (values may nest deep). */
  private holdsSecret(value: unknown): boolean {
    const pattern = this.inText as RegExp;
    const pending: unknown[] = [value];
    while (pending.length > 0) {
      const node = pending.pop();
      if (typeof node === 'string') {
        pattern.lastIndex = 0;
        if (pattern.test(node)) return true;
      } else if (node !== null && typeof node === 'object') {
        if (Array.isArray(node)) for (const child of node) pending.push(child);
        else for (const [key, child] of Object.entries(node)) pending.push(key, child);
      }
    }
    return false;
  }
}
