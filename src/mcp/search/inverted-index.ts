/**
 * Storage for the tool index: postings (term -> documents, with a count in each field), field
 * lengths for BM25F, and the vocabulary of raw words for typo and prefix matching. Documents
 * live in numbered slots that are reused after removal, so scores can accumulate in arrays.
 * Postings are packed into typed arrays (8 bytes a posting, no object per entry): at 100,000
 * tools a search walks lists of tens of thousands of postings, and a Map of them would cost
 * both the walk and most of the index's memory.
 */

/** Counts per field are packed into one 32-bit number, 5 bits a field (a count caps at 31). */
const BITS = 5;
const MAX_COUNT = (1 << BITS) - 1;

export function fieldCount(packed: number, field: number): number {
  return (packed >>> (field * BITS)) & MAX_COUNT;
}

/** A document's raw words, field by field. */
export type DocumentWords = readonly (readonly string[])[];

/**
 * A word of the vocabulary: its stem's postings (which know the stem), how many documents hold
 * it, and the last add that saw it.
 */
interface Known {
  list: PostingList;
  documents: number;
  seenBy: number;
}

/** One term's postings: the documents that hold it and their packed field counts, in step. */
export class PostingList {
  slots = new Uint32Array(2);
  counts = new Uint32Array(2);
  size = 0;
  /** While a document is added: the add counting into `adding`, and its packed counts so far. */
  addedBy = 0;
  adding = 0;

  constructor(readonly stem: string) {}

  push(slot: number, packed: number): void {
    if (this.size === this.slots.length) {
      const slots = new Uint32Array(this.size * 2);
      const counts = new Uint32Array(this.size * 2);
      slots.set(this.slots);
      counts.set(this.counts);
      this.slots = slots;
      this.counts = counts;
    }
    this.slots[this.size] = slot;
    this.counts[this.size++] = packed;
  }

  /** Drops the postings of documents marked in `gone`, in one pass. */
  drop(gone: Uint8Array): void {
    let kept = 0;
    for (let i = 0; i < this.size; i++) {
      const slot = this.slots[i] as number;
      if (gone[slot] === 1) continue;
      this.slots[kept] = slot;
      this.counts[kept++] = this.counts[i] as number;
    }
    this.size = kept;
  }
}

interface Slot {
  lists: PostingList[];
  words: string[];
}

export class InvertedIndex {
  private readonly postings = new Map<string, PostingList>();
  private readonly vocabulary = new Map<string, Known>();
  private adds = 0;
  private sortedWords: string[] | undefined;
  private readonly slots: (Slot | undefined)[] = [];
  private readonly freeSlots: number[] = [];
  private readonly totalLengths: number[];
  /**
   * Per slot and field, the field's length in words, which BM25F normalises by: one flat array
   * rather than an array per document (at 100,000 tools about 3 MB with its room to grow, against
   * about 6). Like the slots, it keeps its size when documents go.
   */
  private lengths = new Uint32Array(0);
  private live = 0;
  /** What `add` collects for the document it adds, reused from one add to the next. */
  private readonly addingLists: PostingList[] = [];
  private readonly addingWords: string[] = [];

  constructor(
    readonly fields: number,
    private readonly stem: (word: string) => string,
  ) {
    this.totalLengths = new Array<number>(fields).fill(0);
  }

  get documentCount(): number {
    return this.live;
  }

  /** One past the highest slot number in use: the size for per-slot arrays. */
  get slotCount(): number {
    return this.slots.length;
  }

  add(fields: DocumentWords): number {
    const slot = this.freeSlots.pop() ?? this.slots.length;
    const stamp = ++this.adds;
    // Each word leads straight to its stem's list, which counts this document's occurrences: no
    // map per document and no lookup by stem per word (indexing is most of a server's connect).
    const lists = this.addingLists;
    const words = this.addingWords;
    const base = slot * this.fields;
    if (base + this.fields > this.lengths.length) {
      const grown = new Uint32Array(Math.max(64 * this.fields, this.lengths.length * 2, base + this.fields));
      grown.set(this.lengths);
      this.lengths = grown;
    }
    // Exactly `this.fields` fields: a missing one is empty, an extra one would spill into the next slot's lengths.
    for (let field = 0; field < this.fields; field++) {
      const fieldWords = fields[field] ?? [];
      this.lengths[base + field] = fieldWords.length;
      this.totalLengths[field] = (this.totalLengths[field] ?? 0) + fieldWords.length;
      for (const word of fieldWords) {
        const known = this.vocabulary.get(word) ?? this.learn(word);
        if (known.seenBy !== stamp) {
          known.seenBy = stamp;
          known.documents++;
          words.push(word);
        }
        const list = known.list;
        if (list.addedBy !== stamp) {
          list.addedBy = stamp;
          list.adding = 0;
          lists.push(list);
        }
        if (fieldCount(list.adding, field) < MAX_COUNT) list.adding += 1 << (field * BITS);
      }
    }
    for (const list of lists) list.push(slot, list.adding);
    // Copies of their exact size: arrays grown by push keep up to half again as much room.
    this.slots[slot] = { lists: lists.slice(), words: words.slice() };
    // Emptied now, not at the next add: a list removed meanwhile must not be kept alive by them.
    lists.length = 0;
    words.length = 0;
    this.live++;
    this.sortedWords = undefined;
    return slot;
  }

  /** A word seen for the first time: its stem, and the stem's postings (new if no word had it). */
  private learn(word: string): Known {
    const stem = this.stem(word);
    let list = this.postings.get(stem);
    if (!list) this.postings.set(stem, (list = new PostingList(stem)));
    const known = { list, documents: 0, seenBy: 0 };
    this.vocabulary.set(word, known);
    return known;
  }

  /**
   * Removes documents together (a server's tools are replaced as a whole): each posting list
   * they appear in is compacted once, however many of them it held.
   */
  removeAll(slots: readonly number[]): void {
    if (slots.length === 0) return;
    const gone = new Uint8Array(this.slots.length);
    const touched = new Set<PostingList>();
    for (const slot of slots) {
      const entry = this.slots[slot];
      if (!entry) continue;
      gone[slot] = 1;
      for (const list of entry.lists) touched.add(list);
      for (const word of entry.words) {
        const known = this.vocabulary.get(word);
        if (known && --known.documents === 0) this.vocabulary.delete(word);
      }
      for (let field = 0, at = slot * this.fields; field < this.fields; field++, at++) {
        this.totalLengths[field] = (this.totalLengths[field] ?? 0) - (this.lengths[at] as number);
        this.lengths[at] = 0;
      }
      this.slots[slot] = undefined;
      this.freeSlots.push(slot);
      this.live--;
    }
    for (const list of touched) {
      list.drop(gone);
      if (list.size === 0) this.postings.delete(list.stem);
    }
    this.sortedWords = undefined;
  }

  postingsOf(stem: string): PostingList | undefined {
    return this.postings.get(stem);
  }

  /** Per slot and field (at `slot * fields + field`), the field's length in words; may run past `slotCount`. */
  get fieldLengths(): Uint32Array {
    return this.lengths;
  }

  averageFieldLength(field: number): number {
    return this.live === 0 ? 0 : (this.totalLengths[field] ?? 0) / this.live;
  }

  stemOf(word: string): string | undefined {
    return this.vocabulary.get(word)?.list.stem;
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
