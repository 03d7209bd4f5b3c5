/**
 * Which callers subscribed to which resource of which server (`resources/subscribe`, or an open
 * 2026-era `subscriptions/listen` stream, keyed LISTEN_STREAM + an id of its own). nexus
 * subscribes a server to a resource once, when its first caller subscribes, and unsubscribes it
 * when its last one unsubscribes. Per instance, and bounded: when full, the oldest 2025-era
 * subscription makes room (its client may have gone away without unsubscribing; a listen
 * stream's end its own). Only when every one is a listen stream's is a new one refused.
 */
export const LISTEN_STREAM = 'listen:';

/** A resource nobody is subscribed to any more, after its last subscriber made room for another. */
export interface Evicted {
  server: string;
  uri: string;
}

export class ResourceSubscriptions {
  /** `server\0uri` -> the callers subscribed, each with the URI it subscribed by (which may be qualified). */
  private readonly subscribers = new Map<string, Map<string, string>>();
  /** Subscriptions held, every caller of every resource counted. */
  private size = 0;
  /** The 2025-era subscriptions, oldest first: `server\0uri\0caller` -> its parts. */
  private readonly legacy = new Map<string, [string, string, string]>();

  constructor(private readonly max = 10_000) {}

  /**
   * Adds `caller`, who knows the resource as `clientUri`. `added` is `first` when it is the
   * resource's first subscriber (the server must be subscribed), `joined` when others were,
   * `full` when refused; `evicted` is a resource whose last subscriber made room (its server may
   * be unsubscribed).
   */
  add(server: string, uri: string, caller: string, clientUri = uri): { added: 'first' | 'joined' | 'full'; evicted?: Evicted } {
    const key = `${server}\u0000${uri}`;
    let evicted: Evicted | undefined;
    const subscribed = this.subscribers.has(key);
    if (this.size >= this.max && !this.subscribers.get(key)?.has(caller)) {
      const oldest = this.legacy.values().next().value;
      if (!oldest) return { added: 'full' };
      // The room made on this very resource leaves its server subscribed, for the newcomer.
      if (this.remove(...oldest) && `${oldest[0]}\u0000${oldest[1]}` !== key) evicted = { server: oldest[0], uri: oldest[1] };
    }
    const callers = this.subscribers.get(key) ?? new Map<string, string>();
    const first = callers.size === 0 && !subscribed;
    this.subscribers.set(key, callers);
    if (!callers.has(caller)) this.size++;
    callers.set(caller, clientUri);
    if (!caller.startsWith(LISTEN_STREAM)) {
      // Oldest means least recently subscribed: a subscription renewed goes to the back.
      this.legacy.delete(`${key}\u0000${caller}`);
      this.legacy.set(`${key}\u0000${caller}`, [server, uri, caller]);
    }
    return { added: first ? 'first' : 'joined', ...(evicted && { evicted }) };
  }

  /** Removes `caller`; true when nobody is left (the server may be unsubscribed). */
  remove(server: string, uri: string, caller: string): boolean {
    const key = `${server}\u0000${uri}`;
    const callers = this.subscribers.get(key);
    if (!callers?.delete(caller)) return false;
    this.size--;
    this.legacy.delete(`${key}\u0000${caller}`);
    if (callers.size > 0) return false;
    this.subscribers.delete(key);
    return true;
  }

  /**
   * Removes `caller`'s subscriptions made by `clientUri` (whichever server that URI named then: a
   * list change since may have moved it); the resources nobody is subscribed to any more.
   */
  forget(caller: string, clientUri: string): Evicted[] {
    const gone: Evicted[] = [];
    for (const [key, callers] of [...this.subscribers]) {
      if (callers.get(caller) !== clientUri) continue;
      const [server, uri] = key.split('\u0000') as [string, string];
      if (this.remove(server, uri, caller)) gone.push({ server, uri });
    }
    return gone;
  }

  /** Who is subscribed to `uri` of `server`, each with the URI it knows the resource by. */
  of(server: string, uri: string): ReadonlyMap<string, string> {
    return this.subscribers.get(`${server}\u0000${uri}`) ?? new Map();
  }
}
