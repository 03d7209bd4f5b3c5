/** A load balancer without stickiness, for tests of several nexus instances. */
import type { RunningNexus } from '../../src/server.js';

export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** A fetch that sends the requests `elsewhere` picks to `other` instead (a load balancer without stickiness). */
export function balancer(from: RunningNexus, other: RunningNexus, elsewhere: (body: string) => boolean): Fetch & { moved: number } {
  const send = (input: string | URL | Request, init?: RequestInit) => {
    const body = typeof init?.body === 'string' ? init.body : '';
    const url = String(input instanceof Request ? input.url : input);
    const move = init?.method === 'POST' && elsewhere(body);
    if (move) send.moved++;
    return fetch(move ? url.replace(from.url, other.url) : url, init);
  };
  send.moved = 0;
  return send;
}
