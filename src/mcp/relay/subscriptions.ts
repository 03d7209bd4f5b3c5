/**
 * Which callers subscribed to which resource of which server (`resources/subscribe`). nexus
 * subscribes a server to a resource once, when its first caller subscribes, and unsubscribes it
 * when its last one unsubscribes. Per instance, and bounded: a caller that never unsubscribes
 * (a client that went away) holds an entry until the bound pushes the oldest out.
 */
export class ResourceSubscriptions {
  /** `server\0uri` -> the callers subscribed. */
  private readonly subscribers = new Map<string, Set<string>>();

  constructor(private readonly max = 10_000) {}

  /** Adds `caller`; true when it is the resource's first subscriber (the server must be subscribed). */
  add(server: string, uri: string, caller: string): boolean {
    const key = `${server}\u0000${uri}`;
    const callers = this.subscribers.get(key);
    if (callers) return (void callers.add(caller), false);
    if (this.subscribers.size >= this.max) this.subscribers.delete(this.subscribers.keys().next().value as string);
    this.subscribers.set(key, new Set([caller]));
    return true;
  }

  /** Removes `caller`; true when nobody is left (the server may be unsubscribed). */
  remove(server: string, uri: string, caller: string): boolean {
    const key = `${server}\u0000${uri}`;
    const callers = this.subscribers.get(key);
    if (!callers?.delete(caller) || callers.size > 0) return false;
    this.subscribers.delete(key);
    return true;
  }

  /** Who is subscribed to `uri` of `server`. */
  of(server: string, uri: string): ReadonlySet<string> {
    return this.subscribers.get(`${server}\u0000${uri}`) ?? new Set();
  }
}
