/**
 * Does a URI match an RFC 6570 template? Used only to route `resources/read` to the server
 * whose template could have produced the URI, so every expression is a wildcard over the
 * characters its operator may expand to. Compiled once into a small automaton and run in time
 * linear in the URI (the URI comes from the client: no backtracking regex).
 */
type Step = { literal: string } | { wildcard: (char: string) => boolean };

const ANY = () => true;
/** What each operator may expand to; simple expansions percent-encode "/", "?" and "#". */
const WILDCARDS: Record<string, (char: string) => boolean> = {
  '': (c) => c !== '/' && c !== '?' && c !== '#',
  '.': (c) => c !== '/' && c !== '?' && c !== '#',
  ';': (c) => c !== '/' && c !== '?' && c !== '#',
  '/': (c) => c !== '?' && c !== '#',
  '?': (c) => c !== '#',
  '&': (c) => c !== '#',
  '+': ANY,
  '#': ANY,
};

export type UriMatcher = (uri: string) => boolean;

export function compileUriTemplate(template: string): UriMatcher {
  const steps = stepsOf(template);
  return (uri) => run(steps, uri);
}

/** Pairs of steps an overlap check may walk; templates longer than this are taken to overlap. */
const MAX_OVERLAP_PAIRS = 250_000;

/**
 * Could one URI match both templates? Walks the pairs of steps both could be at, each at most
 * once. Past MAX_OVERLAP_PAIRS (templates thousands of characters long) the answer is yes: a
 * server's odd template must not hold up nexus, and taking it to overlap only qualifies its URIs.
 */
export function templatesOverlap(a: string, b: string): boolean {
  const first = stepsOf(a);
  const second = stepsOf(b);
  const width = second.length + 1;
  if ((first.length + 1) * width > MAX_OVERLAP_PAIRS) return true;
  const seen = new Set<number>();
  const queue: [number, number][] = [[0, 0]];
  while (queue.length > 0) {
    const [i, j] = queue.pop() as [number, number];
    if (seen.has(i * width + j)) continue;
    seen.add(i * width + j);
    if (i === first.length && j === second.length) return true;
    const x = first[i];
    const y = second[j];
    // A wildcard may match nothing more: step past it.
    if (x && 'wildcard' in x) queue.push([i + 1, j]);
    if (y && 'wildcard' in y) queue.push([i, j + 1]);
    if (!x || !y) continue;
    // Or both take one character: a literal the other accepts (two wildcards share plain letters, which leads nowhere new).
    if ('literal' in x && 'literal' in y) {
      if (x.literal === y.literal) queue.push([i + 1, j + 1]);
    } else if ('literal' in x) {
      if ((y as { wildcard: (char: string) => boolean }).wildcard(x.literal)) queue.push([i + 1, j]);
    } else if ('literal' in y) {
      if (x.wildcard(y.literal)) queue.push([i, j + 1]);
    }
  }
  return false;
}

function stepsOf(template: string): Step[] {
  const steps: Step[] = [];
  for (const part of template.split(/(\{[^}]*\})/)) {
    if (part.startsWith('{') && part.endsWith('}')) {
      steps.push({ wildcard: WILDCARDS[part.charAt(1)] ?? WILDCARDS[''] ?? ANY });
    } else {
      for (const char of part) steps.push({ literal: char });
    }
  }
  return steps;
}

/** Thompson-style simulation: the set of steps we could be at, advanced one character at a time. */
function run(steps: Step[], uri: string): boolean {
  let current = closure(steps, [0]);
  for (const char of uri) {
    const next: number[] = [];
    for (const at of current) {
      const step = steps[at];
      if (!step) continue;
      if ('literal' in step) {
        if (step.literal === char) next.push(at + 1);
      } else if (step.wildcard(char)) {
        next.push(at);
      }
    }
    if (next.length === 0) return false;
    current = closure(steps, next);
  }
  return current.includes(steps.length);
}

/** Adds every step reachable by letting wildcards match nothing. */
function closure(steps: Step[], positions: number[]): number[] {
  const seen = new Set<number>();
  for (let at of positions) {
    while (!seen.has(at)) {
      seen.add(at);
      const step = steps[at];
      if (!step || 'literal' in step) break;
      at += 1;
    }
  }
  return [...seen];
}
