/**
 * Counting input tokens with a real tokenizer (OpenAI's o200k_base, from gpt-tokenizer), for
 * `count_tokens` and token rate limits. The tokenizer's tables are large: they load on the first
 * count, not at start.
 */

let counter: Promise<(text: string) => number> | undefined;

/** Tokens of `parts` (strings as they are, anything else as its JSON). */
export async function countTokens(parts: readonly unknown[]): Promise<number> {
  counter ??= import('gpt-tokenizer').then((tokenizer) => tokenizer.countTokens);
  const count = await counter;
  return parts
    .filter((part) => part !== undefined)
    .reduce<number>((sum, part) => sum + count(typeof part === 'string' ? part : JSON.stringify(part)), 0);
}
