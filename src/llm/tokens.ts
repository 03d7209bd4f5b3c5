/**
 * Counting input tokens with a real tokenizer (OpenAI's o200k_base, from gpt-tokenizer), for
 * `count_tokens` and token rate limits, without holding up the event loop. The tokenizer's tables
 * are large: they load on the first count, not at start.
 *
 * gpt-tokenizer is quadratic in the length of one pre-token (a run of letters without a break:
 * 40,000 × "a" took 0.7 s, 100,000 CJK characters 34 s), and a client sends what it likes. So text
 * is tokenized in pieces of a few KB, each cut where o200k_base's own pre-tokenizer always splits
 * (the sum of the pieces' counts is then the count of the whole), and a stretch with no such place
 * is cut blindly every MAX_RUN characters. Between pieces the event loop gets a turn every few ms,
 * and past a budget of text the rest is estimated.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

/** The most text tokenized in one call: about a millisecond of work. */
const WINDOW_CHARS = 4096;
/**
 * How long a stretch without a safe cut may grow before it is cut blindly. Measured: at 128 a
 * call stays under a millisecond, and counts stay within 0.3% (CJK, base64, "aaaa…", symbols).
 */
const MAX_RUN_CHARS = 128;
/** How long the counting works before the event loop gets a turn. */
const SLICE_MS = 8;
/** Text counted exactly (measured: 0.5 s of work for words, 1.5 s for CJK); the rest is estimated at the ratio so far. */
const EXACT_BUDGET_CHARS = 1_000_000;

/**
 * Where o200k_base's pre-tokenizer splits whatever comes before and after (checked against the
 * tokenizer): before a space or tab (any white space but a line end) that a non-space follows (it begins the next word's piece),
 * between a letter or digit and a symbol (not an apostrophe, which may begin "'s", nor a combining
 * mark, which belongs to the letter before), between a letter and a digit, and from a lower-case
 * letter to an upper-case one.
 */
const SAFE_CUT = /[^\S\r\n](?=\S)|(?<=[\p{L}\p{N}])[^\s\p{L}\p{N}\p{M}']|(?<=\p{L})\p{N}|(?<=\p{N})\p{L}|(?<=\p{Ll})[\p{Lu}\p{Lt}]/gu;

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

type Count = (text: string) => number;
let counter: Promise<Count> | undefined;

async function loadCounter(): Promise<Count> {
  const tokenizer = await import('gpt-tokenizer');
  // Its cache of pieces only costs here: once full, each eviction from the front of a Map grows
  // slower (1 MB of varied words took 2.7 s cached, 0.5 s not), and it would hold memory for good.
  tokenizer.setMergeCacheSize(0);
  // Text that looks like a special token ("<|endoftext|>") is counted as text, not refused.
  const asText = { disallowedSpecial: new Set<string>() };
  return (text) => tokenizer.countTokens(text, asText);
}

/** Tokens of `parts` (strings as they are, anything else as its JSON). */
export async function countTokens(parts: readonly unknown[]): Promise<number> {
  counter ??= loadCounter();
  const count = await counter;
  const texts = parts.filter((part) => part !== undefined).map((part) => (typeof part === 'string' ? part : JSON.stringify(part)));
  const total = texts.reduce((sum, text) => sum + text.length, 0);
  let tokens = 0;
  let counted = 0;
  let sliceStart = performance.now();
  for (const text of texts) {
    for (const piece of pieces(text)) {
      if (counted >= EXACT_BUDGET_CHARS) return Math.ceil((tokens * total) / counted);
      tokens += count(piece);
      counted += piece.length;
      if (performance.now() - sliceStart >= SLICE_MS) {
        await nextTurn();
        sliceStart = performance.now();
      }
    }
  }
  return tokens;
}

/** `text` in pieces to tokenize one by one, window by window. */
function* pieces(text: string): Generator<string> {
  for (let from = 0; from < text.length;) {
    let to = Math.min(from + WINDOW_CHARS, text.length);
    if (to < text.length && isHighSurrogate(text.charCodeAt(to - 1))) to--;
    const window = splitWindow(text.slice(from, to), to === text.length);
    yield* window.pieces;
    from += window.used;
  }
}

/**
 * The pieces of a window of text (which begins at a cut), and how much of it they cover: up to its
 * last cut (what follows goes on in the next window), or all of it when it ends the text.
 */
function splitWindow(window: string, final: boolean): { pieces: string[]; used: number } {
  const out: string[] = [];
  let start = 0; // of the piece being gathered
  let end = 0; // its last safe cut
  const cutAt = (cut: number) => {
    if (cut - end > MAX_RUN_CHARS) {
      if (end > start) out.push(window.slice(start, end));
      start = cutBlindly(window, end, cut, out);
    }
    end = cut;
  };
  for (const match of window.matchAll(SAFE_CUT)) cutAt(match.index);
  if (final) cutAt(window.length);
  if (end > start) out.push(window.slice(start, end));
  // A stretch that runs on past the window: its whole runs now, the rest in the next window.
  if (!final && window.length - end > MAX_RUN_CHARS) return { pieces: out, used: cutBlindly(window, end, window.length, out) };
  return { pieces: out, used: end };
}

/** Pushes `text[from, to)` in runs of MAX_RUN_CHARS (surrogate pairs kept whole) but the last; returns where that begins. */
function cutBlindly(text: string, from: number, to: number, out: string[]): number {
  while (to - from > MAX_RUN_CHARS) {
    let next = from + MAX_RUN_CHARS;
    if (isHighSurrogate(text.charCodeAt(next - 1))) next--;
    out.push(text.slice(from, next));
    from = next;
  }
  return from;
}
