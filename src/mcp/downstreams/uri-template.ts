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
  const steps: Step[] = [];
  for (const part of template.split(/(\{[^}]*\})/)) {
    if (part.startsWith('{') && part.endsWith('}')) {
      steps.push({ wildcard: WILDCARDS[part.charAt(1)] ?? WILDCARDS[''] ?? ANY });
    } else {
      for (const char of part) steps.push({ literal: char });
    }
  }
  return (uri) => run(steps, uri);
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
