/**
 * `search` with the semantic stage: the lexical ranking and the tools nearest the query's
 * embedding, blended. Both scores are scaled to 0..1 over the candidates (the best lexical score
 * is 1; similarities from the lowest to the highest candidate's), then mixed by `weight`; a tool
 * without a vector yet counts by its lexical score alone. Results keep the lexical scale (the
 * blend times the best lexical score), so they sort with lexical results from elsewhere (a
 * caller's forward servers). Without a query embedding (endpoint down or slow) the lexical
 * ranking is returned as is.
 */
import { byRank, MAX_RESULTS, type SearchResult, type ToolIndex } from './tool-index.js';
import type { SemanticIndex } from './semantic-index.js';

/** Candidates taken from each side before blending. */
const CANDIDATES = 50;

export interface SemanticStage {
  index: SemanticIndex;
  weight: number;
}

export async function hybridSearch(
  lexicalIndex: ToolIndex,
  keywords: readonly string[],
  semantic: SemanticStage | undefined,
): Promise<SearchResult[]> {
  if (!semantic) return lexicalIndex.search(keywords);
  const query = keywords.join(' ').trim();
  const vector = query === '' ? undefined : await semantic.index.queryVector(query);
  if (!vector) return lexicalIndex.search(keywords);
  const lexical = lexicalIndex.search(keywords, CANDIDATES);
  const near = semantic.index.nearest(vector, CANDIDATES, (name) => lexicalIndex.get(name) !== undefined);
  const similarities = new Map(near.map(({ name, similarity }) => [name, similarity]));
  for (const { name } of lexical) {
    if (similarities.has(name)) continue;
    const server = lexicalIndex.get(name)?.server;
    const similarity = server === undefined ? undefined : semantic.index.similarity(vector, name, server);
    if (similarity !== undefined) similarities.set(name, similarity);
  }
  const bestLexical = lexical[0]?.score || 1;
  const lexicalScores = new Map(lexical.map(({ name, score }) => [name, score / bestLexical]));
  let low = Infinity;
  let high = -Infinity;
  for (const similarity of similarities.values()) {
    low = Math.min(low, similarity);
    high = Math.max(high, similarity);
  }
  const span = high - low;
  const blended = [...new Set([...lexicalScores.keys(), ...similarities.keys()])].flatMap((name) => {
    const similarity = similarities.get(name);
    const lexicalScore = lexicalScores.get(name) ?? 0;
    const semanticScore = similarity === undefined ? lexicalScore : span > 0 ? (similarity - low) / span : 1;
    const score = (1 - semantic.weight) * lexicalScore + semantic.weight * semanticScore;
    return score > 0 ? [{ name, score: score * bestLexical }] : [];
  });
  blended.sort(byRank);
  return blended.slice(0, MAX_RESULTS).flatMap(({ name, score }) => lexicalIndex.result(name, Math.round(score * 1000) / 1000) ?? []);
}
