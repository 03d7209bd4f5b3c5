/** The bound on resource subscriptions (relay/subscriptions.ts): room is made from 2025-era ones, never a live listen stream's. */
import { describe, expect, it } from 'vitest';
import { LISTEN_STREAM, ResourceSubscriptions } from '../src/mcp/relay/subscriptions.js';

describe('ResourceSubscriptions', () => {
  it('makes room from the oldest 2025-era subscription, saying when its server has nobody left', () => {
    const subscriptions = new ResourceSubscriptions(2);
    expect(subscriptions.add('a', 'x://1', 'old')).toEqual({ added: 'first' });
    expect(subscriptions.add('a', 'x://2', `${LISTEN_STREAM}1`)).toEqual({ added: 'first' });
    expect(subscriptions.add('b', 'x://3', 'new')).toEqual({ added: 'first', evicted: { server: 'a', uri: 'x://1' } });
    expect([...subscriptions.of('a', 'x://1').keys()]).toEqual([]);
    // Room made on the very resource joined: its server stays subscribed.
    expect(subscriptions.add('b', 'x://3', `${LISTEN_STREAM}2`)).toEqual({ added: 'joined' });
  });

  it('refuses a new subscription when every one held is a listen stream’s', () => {
    const subscriptions = new ResourceSubscriptions(1);
    subscriptions.add('a', 'x://1', `${LISTEN_STREAM}1`);
    expect(subscriptions.add('a', 'x://2', 'late')).toEqual({ added: 'full' });
    expect(subscriptions.remove('a', 'x://1', `${LISTEN_STREAM}1`)).toBe(true);
    expect(subscriptions.add('a', 'x://2', 'late')).toEqual({ added: 'first' });
  });
});
