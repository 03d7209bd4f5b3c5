/**
 * The client side of one downstream call: the server's requests made while serving it go to the
 * call's client, in the client's era, and the answers come back.
 *
 * - 2025-era client: the request is written on the call's stream with an id naming this instance
 *   (pending-answers.ts); the client answers with a later POST.
 * - 2026-07-28 client: requests are gathered into an `input_required` result (next()); the client
 *   answers them in its retry of the call (answer()).
 *
 * While the client is answering, the call's timeout is paused: a person may be filling in a form.
 */
import { ProtocolError, type LoggingMessageNotificationParams } from '@modelcontextprotocol/server';
import { isServerRequest, type CallPeer } from '../downstreams/call-peer.js';
import { logPasses, missingCapability, type ClientLink } from './client-link.js';
import { resultOf, type PendingAnswers } from './pending-answers.js';
import { isObject, notification, request } from '../protocol/jsonrpc.js';

export interface CallRelayOptions {
  /** Who made the call (callerKey), who alone may answer for it. */
  caller: string | undefined;
  pending: PendingAnswers;
  /** Pauses the call's timeout; returns the resume. */
  pauseTimeout: () => () => void;
  /** Starts the call's timeout again. */
  restartTimeout: () => void;
}

/** Rounds of input a server may ask for in one call (or one task nexus follows): the SDK's own bound. */
export const MAX_INPUT_ROUNDS = 8;

/** A request from the server to be answered in a 2026-era client's next retry. */
interface Ask {
  method: string;
  params: Record<string, unknown>;
  sent: boolean;
  resolve: (result: Record<string, unknown>) => void;
  reject: (error: unknown) => void;
}

export type InputRequests = Record<string, { method: string; params: Record<string, unknown> }>;

/** What a 2026-era client sees next of a call: its result, or requests to answer first. */
export type NextStep<T> = { done: true; result: T } | { done: false; inputRequests: InputRequests };

export class CallRelay implements CallPeer {
  private readonly asks = new Map<string, Ask>();
  private asked = 0;
  private wake: (() => void) | undefined;
  /** Aborted when the call is over: requests still open for the client are withdrawn (made at the first request). */
  private over: AbortController | undefined;

  constructor(
    /** The client's link for the current round (a 2026-era call gets a new one with each retry). */
    public link: ClientLink,
    private readonly options: CallRelayOptions,
  ) {}

  get caller(): string | undefined {
    return this.options.caller;
  }

  async ask(method: string, params: Record<string, unknown>, signal: AbortSignal): Promise<Record<string, unknown>> {
    const { link } = this;
    if (!isServerRequest(method)) throw new ProtocolError(-32601, `Method not found: ${method}`);
    const missing = link.capabilities ? missingCapability(method, params, link.capabilities) : 'any';
    if (missing !== undefined) {
      const why = missing === 'any' ? 'nexus does not know its capabilities' : `it did not declare the ${missing} capability`;
      throw new ProtocolError(-32601, `the client of this call cannot take ${method}: ${why}`);
    }
    const resume = this.options.pauseTimeout();
    try {
      this.over ??= new AbortController();
      const until = AbortSignal.any([signal, this.over.signal]);
      return link.era === 'legacy' ? await this.askNow(method, params, until) : await this.askInRetry(method, params, until);
    } finally {
      resume();
    }
  }

  log(params: Record<string, unknown>): void {
    if (!logPasses((params as Partial<LoggingMessageNotificationParams>).level, this.link.logLevel)) return;
    this.link.send(notification('notifications/message', params)).catch(() => undefined);
  }

  alive(): void {
    this.options.restartTimeout();
  }

  /** Downstream progress, relayed under the client's progress token when it gave one. */
  async progress(progress: { progress: number; total?: number; message?: string }): Promise<void> {
    const { progressToken } = this.link;
    if (progressToken === undefined) return;
    await this.link.send(notification('notifications/progress', { ...progress, progressToken }));
  }

  /** A 2025-era client: the request goes out now on the call's stream. */
  private async askNow(method: string, params: Record<string, unknown>, signal: AbortSignal): Promise<Record<string, unknown>> {
    signal.throwIfAborted();
    const { id, answer, forget } = this.options.pending.add(this.options.caller);
    const link = this.link;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_resolve, reject) => {
      onAbort = () => {
        forget();
        // The server gave up on its request (or the call ended): the client may stop asking its user.
        const params = { requestId: id, reason: String(signal.reason ?? 'cancelled') };
        link.send(notification('notifications/cancelled', params)).catch(() => undefined);
        reject(signal.reason instanceof Error ? signal.reason : new ProtocolError(-32800, 'Request cancelled'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await link.send(request(id, method, params));
      return resultOf(await Promise.race([answer, aborted]));
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
      forget();
    }
  }

  /** A 2026-era client: the request waits for the next input_required result and the retry that answers it. */
  private askInRetry(method: string, params: Record<string, unknown>, signal: AbortSignal): Promise<Record<string, unknown>> {
    signal.throwIfAborted();
    const key = `nexus-${++this.asked}`;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.asks.delete(key);
        reject(signal.reason instanceof Error ? signal.reason : new ProtocolError(-32800, 'Request cancelled'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const done = () => signal.removeEventListener('abort', onAbort);
      this.asks.set(key, {
        method,
        params,
        sent: false,
        resolve: (result) => (done(), resolve(result)),
        reject: (error) => (done(), reject(error)),
      });
      this.wake?.();
    });
  }

  /**
   * For a 2026-era client: waits for the call's result or for requests the client must answer
   * first, whichever comes first. Requests made together are sent together.
   */
  async next<T>(call: Promise<T>): Promise<NextStep<T>> {
    for (;;) {
      const inputRequests = this.unsent();
      if (inputRequests) return { done: false, inputRequests };
      const woken = new Promise<undefined>((resolve) => (this.wake = () => resolve(undefined)));
      const result = await Promise.race([call.then((value) => ({ value })), woken]);
      this.wake = undefined;
      if (result) return { done: true, result: result.value };
      // Let requests made in the same turn join this round.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** A retry's `inputResponses`: answers the requests they name; any left unanswered are asked again. */
  answer(inputResponses: Record<string, unknown>): void {
    for (const [key, ask] of this.asks) {
      const response = inputResponses[key];
      if (isObject(response)) {
        this.asks.delete(key);
        ask.resolve(response);
      } else {
        ask.sent = false;
      }
    }
  }

  /** Ends every request still waiting for a client (the call is over). */
  end(reason: string): void {
    // Before the call's answer is written: a 2025-era client hears its request withdrawn first.
    if (!this.over) return;
    this.over.abort(new ProtocolError(-32603, reason));
    for (const ask of this.asks.values()) ask.reject(new ProtocolError(-32603, reason));
    this.asks.clear();
  }

  private unsent(): InputRequests | undefined {
    let requests: InputRequests | undefined;
    for (const [key, ask] of this.asks) {
      if (ask.sent) continue;
      ask.sent = true;
      (requests ??= {})[key] = { method: ask.method, params: ask.params };
    }
    return requests;
  }
}
