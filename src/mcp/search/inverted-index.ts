/**
 * Storage for the tool index: postings (term -> document -> count in each field), field
 * lengths for BM25F, and the vocabulary of raw words for typo and prefix matching. Documents
 * live in numbered slots that are reused after removal, so scores can accumulate in arrays.
 */

/** Counts per field are packed into one number, 6 bits a field (a count caps at 63). */
const BITS = 6;
const MAX_COUNT = (1 << BITS) - 1;

export function fieldCount(packed: number, field: number): number {
  return (packed >>> (field * BITS)) & MAX_COUNT;
}

/** A document's words, field by field, each as [raw word, stem]. */
export type DocumentTerms = readonly (readonly (readonly [string, string])[])[];

interface Slot {
  lengths: number[];
  stems: string[];
  words: string[];
}

export class InvertedIndex {
  private readonly postings = new Map<string, Map<number, number>>();
  /** Raw word -> [its stem, how many documents hold it]. */
  private readonly vocabulary = new Map<string, [string, number]>();
  private sortedWords: string[] | undefined;
  private readonly slots: (Slot | undefined)[] = [];
  private readonly freeSlots: number[] = [];
  private readonly totalLengths: number[];
  private live = 0;

  constructor(readonly fields: number) {
    this.totalLengths = new Array<number>(fields).fill(0);
  }

  get documentCount(): number {
    return this.live;
  }

  /** One past the highest slot number in use: the size for per-slot arrays. */
  get slotCount(): number {
    return this.slots.length;
  }

  add(terms: DocumentTerms): number {
    const slot = this.freeSlots.pop() ?? this.slots.length;
    const counts = new Map<string, number>();
    const words = new Set<string>();
    terms.forEach((fieldTerms, field) => {
      for (const [word, stem] of fieldTerms) {
        const packed = counts.get(stem) ?? 0;
        if (fieldCount(packed, field) < MAX_COUNT) counts.set(stem, packed + (1 << (field * BITS)));
        words.add(word);
        if (!this.vocabulary.has(word)) this.vocabulary.set(word, [stem, 0]);
      }
    });
    for (const [stem, packed] of counts) {
      let docs = this.postings.get(stem);
      if (!docs) this.postings.set(stem, (docs = new Map()));
      docs.set(slot, packed);
    }
    for (const word of words) (this.vocabulary.get(word) as [string, number])[1]++;
    const lengths = terms.map((fieldTerms) => fieldTerms.length);
    lengths.forEach((length, field) => (this.totalLengths[field] = (this.totalLengths[field] ?? 0) + length));
    this.slots[slot] = { lengths, stems: [...counts.keys()], words: [...words] };
    this.live++;
    this.sortedWords = undefined;
    return slot;
  }

  remove(slot: number): void {
    const entry = this.slots[slot];
    if (!entry) return;
    for (const stem of entry.stems) {
      const docs = this.postings.get(stem);
      docs?.delete(slot);
      if (docs?.size === 0) this.postings.delete(stem);
    }
    for (const word of entry.words) {
      const known = this.vocabulary.get(word);
      if (known && --known[1] === 0) this.vocabulary.delete(word);
    }
    entry.lengths.forEach((length, field) => (this.totalLengths[field] = (this.totalLengths[field] ?? 0) - length));
    this.slots[slot] = undefined;
    this.freeSlots.push(slot);
    this.live--;
    this.sortedWords = undefined;
  }

  postingsOf(stem: string): ReadonlyMap<number, number> | undefined {
    return this.postings.get(stem);
  }

  fieldLength(slot: number, field: number): number {
    return this.slots[slot]?.lengths[field] ?? 0;
  }

  averageFieldLength(field: number): number {
    return this.live === 0 ? 0 : (this.totalLengths[field] ?? 0) / this.live;
  }

  stemOf(word: string): string | undefined {
    return this.vocabulary.get(word)?.[0];
  }

  /** Every raw word in the index (for typo matching). */
  words(): IterableIterator<string> {
    return this.vocabulary.keys();
  }

  /** Raw words that start with `prefix`, longer than it. */
  wordsStartingWith(prefix: string): string[] {
    const sorted = (this.sortedWords ??= [...this.vocabulary.keys()].sort());
    let low = 0;
    let high = sorted.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((sorted[middle] as string) < prefix) low = middle + 1;
      else high = middle;
    }
    const out: string[] = [];
    for (let i = low; i < sorted.length && (sorted[i] as string).startsWith(prefix); i++) {
      if (sorted[i] !== prefix) out.push(sorted[i] as string);
    }
    return out;
  }
}
