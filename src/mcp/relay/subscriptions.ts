/**
 * Which callers subscribed to which resource of which server (`resources/subscribe`). nexus
 * subscribes a server to a resource once, when its first caller subscribes, and unsubscribes it
 * when its last one unsubscribes. Per instance, and bounded: a caller that never unsubscribes
 * (a client that went away) holds an entry until the bound pushes the oldest out.
 */
export class ResourceSubscriptions {
  /** `server\0uri` -> the callers subscribed, each with the URI it subscribed by (which may be qualified). */
  private readonly subscribers = new Map<string, Map<string, string>>();

  constructor(private readonly max = 10_000) {}

  /** Adds `caller`, who knows the resource as `clientUri`; true when it is the resource's first subscriber (the server must be subscribed). */
  add(server: string, uri: string, caller: string, clientUri = uri): boolean {
    const key = `${server}\u0000${uri}`;
    const callers = this.subscribers.get(key);
    if (callers) return (void callers.set(caller, clientUri), false);
    if (this.subscribers.size >= this.max) this.subscribers.delete(this.subscribers.keys().next().value as string);
    this.subscribers.set(key, new Map([[caller, clientUri]]));
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

  /** Who is subscribed to `uri` of `server`, each with the URI it knows the resource by. */
  of(server: string, uri: string): ReadonlyMap<string, string> {
    return this.subscribers.get(`${server}\u0000${uri}`) ?? new Map();
  }
}
