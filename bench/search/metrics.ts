/**
 * Ranking metrics over one query's ranked result names and its set of right answers.
 * A query may have several right answers ("ambiguous" ones); recall@k is measured against
 * what k results could hold, so a query with 8 right answers can still reach 1.0 at k = 5.
 */
export interface QueryScores {
  recall1: number;
  recall5: number;
  /** 1 when any right answer is in the top 5: for a task several tools can do, finding one is enough. */
  hit5: number;
  reciprocalRank: number;
  ndcg10: number;
}

function recallAt(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  if (relevant.size === 0) return 0;
  const found = ranked.slice(0, k).filter((name) => relevant.has(name)).length;
  return found / Math.min(relevant.size, k);
}

function reciprocalRank(ranked: readonly string[], relevant: ReadonlySet<string>): number {
  const at = ranked.findIndex((name) => relevant.has(name));
  return at === -1 ? 0 : 1 / (at + 1);
}

/** nDCG@k with binary relevance. */
function ndcgAt(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  const gain = (position: number) => 1 / Math.log2(position + 2);
  let dcg = 0;
  ranked.slice(0, k).forEach((name, position) => {
    if (relevant.has(name)) dcg += gain(position);
  });
  let ideal = 0;
  for (let position = 0; position < Math.min(relevant.size, k); position++) ideal += gain(position);
  return ideal === 0 ? 0 : dcg / ideal;
}

export function scoreQuery(ranked: readonly string[], expected: readonly string[]): QueryScores {
  const relevant = new Set(expected);
  return {
    recall1: recallAt(ranked, relevant, 1),
    recall5: recallAt(ranked, relevant, 5),
    hit5: ranked.slice(0, 5).some((name) => relevant.has(name)) ? 1 : 0,
    reciprocalRank: reciprocalRank(ranked, relevant),
    ndcg10: ndcgAt(ranked, relevant, 10),
  };
}

/** Averages of each metric. */
export function mean(scores: readonly QueryScores[]): QueryScores {
  const sum = (pick: (s: QueryScores) => number) => scores.reduce((total, s) => total + pick(s), 0) / (scores.length || 1);
  return {
    recall1: sum((s) => s.recall1),
    recall5: sum((s) => s.recall5),
    hit5: sum((s) => s.hit5),
    reciprocalRank: sum((s) => s.reciprocalRank),
    ndcg10: sum((s) => s.ndcg10),
  };
}
