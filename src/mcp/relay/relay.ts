/**
 * Everything nexus keeps to relay server-to-client traffic, for all calls of this instance: the
 * requests waiting for 2025-era clients' answers, the calls parked until a 2026-era client's retry,
 * the log levels clients asked for, and the bus to the other instances.
 */
import { inputRequired, ProtocolError, type ClientCapabilities, type LoggingLevel, type Result } from '@modelcontextprotocol/server';
import type { Logger } from '../../log.js';
import { ownerOf, relayId, type DeclaredLink, type RelayBus, type RelayMessage, type Reply } from './bus.js';
import type { CallRelay } from './call-relay.js';
import type { ClientLink } from './client-link.js';
import { LogLevels } from './log-levels.js';
import { PendingAnswers } from './pending-answers.js';
import { ResourceSubscriptions } from './subscriptions.js';

/** How long a call parked for input waits for the client's retry (the SDK's own round timeout). */
const INPUT_WAIT_MS = 600_000;
/** While a resumed call runs for another instance, how often it says it is still at it; and how long that instance waits without a word. */
const ALIVE_EVERY_MS = 15_000;
const SILENCE_LIMIT_MS = 60_000;
/** Tries at handing a resumed call's outcome back (Redis may be briefly away). */
const OUTCOME_TRIES = 5;

/** Calls parked at once on one instance: each holds a server's call open, so hostile clients must not pile them up. */
const MAX_PARKED_CALLS = 1_000;

/** A downstream call under way for a 2026-era client, between its rounds. */
export interface ParkedCall {
  relay: CallRelay;
  running: Promise<Result>;
  abort: (reason: string) => void;
}

interface Parked {
  call: ParkedCall;
  timer: NodeJS.Timeout;
}

/** Another instance resuming one of this instance's parked calls: where its outcome goes. */
interface RemoteWait {
  link: ClientLink;
  settle: (outcome: Outcome) => void;
  /** The owner said something: it is still at it. */
  touch: () => void;
}

type Outcome = Extract<RelayMessage, { kind: 'outcome' }>['outcome'];

/** A client's request about a task (tasks/task-relay.ts), as instances hand it to each other. */
export type TaskRequest = Pick<Extract<RelayMessage, { kind: 'task' }>, 'method' | 'taskId' | 'inputResponses' | 'caller'>;

type ErrorShape = { code: number; message: string; data?: unknown };

export class Relay {
  readonly pending: PendingAnswers;
  readonly logLevels = new LogLevels();
  readonly subscriptions = new ResourceSubscriptions();
  private readonly parked = new Map<string, Parked>();
  private readonly remoteWaits = new Map<string, RemoteWait>();
  /** Requests served here for another instance's client, by its reply id: the client going away cancels them. */
  private readonly resumedHere = new Map<string, AbortController>();

  constructor(
    readonly bus: RelayBus,
    private readonly logger: Logger,
    private readonly waitMs = INPUT_WAIT_MS,
  ) {
    this.pending = new PendingAnswers(bus);
    bus.onMessage((message) => this.onMessage(message));
  }

  /**
   * For a 2026-era client: the call's result, or an `input_required` result with the requests the
   * client must answer, the call parked until its retry. The round's `signal` (the client went
   * away) aborts the call.
   */
  async outcome(call: ParkedCall, signal: AbortSignal): Promise<Result> {
    const onAbort = () => call.abort('cancelled by the client');
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const step = await call.relay.next(call.running);
      if (step.done) return step.result;
      if (this.parked.size >= MAX_PARKED_CALLS) {
        call.running.catch(() => undefined);
        call.abort('too many calls are waiting for their clients');
        throw new ProtocolError(
          -32603,
          `the server asked for input, and ${MAX_PARKED_CALLS} calls already wait for theirs: try again later`,
        );
      }
      return inputRequired({ inputRequests: step.inputRequests as never, requestState: this.park(call) });
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Whether `state` is a requestState this relay (any instance) handed out. */
  isOurs(state: unknown): state is string {
    return ownerOf(state) !== undefined;
  }

  /** A 2026-era client's retry of a parked call: answers its requests and goes on, on whichever instance holds it. */
  async resume(state: string, inputResponses: Record<string, unknown>, link: ClientLink, caller: string | undefined, signal: AbortSignal) {
    const owner = ownerOf(state);
    if (owner === this.bus.instance) return this.resumeHere(state, inputResponses, link, caller, signal);
    const reply = { instance: this.bus.instance, id: relayId(this.bus.instance) };
    const message = { kind: 'resume', caller, state, inputResponses, link: declared(link), reply } as const;
    return this.atOwner(owner as string, message, link, signal, () =>
      expired('it is held by another nexus instance, which this one cannot reach (see mcp.relay.redis_url)'),
    );
  }

  /**
   * A request about a task of another instance's (`taskId` names it), run there: its outcome, or
   * undefined when the task is this instance's own.
   */
  taskElsewhere(request: TaskRequest, link: ClientLink, signal: AbortSignal): Promise<Result> | undefined {
    const { taskId } = request;
    const owner = ownerOf(taskId);
    if (owner === undefined || owner === this.bus.instance) return undefined;
    const reply = { instance: this.bus.instance, id: relayId(this.bus.instance) };
    const message = { kind: 'task', ...request, era: link.era, link: declared(link), reply } as const;
    return this.atOwner(
      owner,
      message,
      link,
      signal,
      () => new ProtocolError(-32602, `Failed to retrieve task: unknown task ${taskId} (it names a nexus instance this one cannot reach)`),
    );
  }

  /** Serves the tasks of this instance that other instances' clients ask about. */
  onTaskRequest?: (request: TaskRequest, link: ClientLink, signal: AbortSignal) => Promise<Result>;

  /**
   * Sends `message` to the instance `owner` and waits for its outcome, passing on to `link` what
   * comes before it; the client going away (`signal`) cancels it there, and an owner silent for
   * SILENCE_LIMIT_MS is given up on.
   */
  private async atOwner(
    owner: string,
    message: Extract<RelayMessage, { reply: unknown }>,
    link: ClientLink,
    signal: AbortSignal,
    unreachable: () => Error,
  ): Promise<Result> {
    const { id } = message.reply;
    let silence: NodeJS.Timeout | undefined;
    const outcome = new Promise<Outcome>((settle) => {
      const gone = () => settle({ error: { code: -32603, message: 'the nexus instance holding this call stopped answering' } });
      const touch = () => {
        clearTimeout(silence);
        silence = setTimeout(gone, SILENCE_LIMIT_MS);
      };
      this.remoteWaits.set(id, { link, settle, touch });
      touch();
    });
    // The client went away: the owner cancels the call.
    const onAbort = () => void this.bus.send(owner, { kind: 'cancel', to: id });
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (!(await this.bus.send(owner, message))) throw unreachable();
      const settled = await outcome;
      if ('error' in settled) throw new ProtocolError(settled.error.code, settled.error.message, settled.error.data);
      return settled.result;
    } finally {
      clearTimeout(silence);
      signal.removeEventListener('abort', onAbort);
      this.remoteWaits.delete(id);
    }
  }

  close(): Promise<void> {
    for (const [state, { call, timer }] of this.parked) {
      clearTimeout(timer);
      call.abort('nexus is shutting down');
      this.parked.delete(state);
    }
    return this.bus.close();
  }

  private resumeHere(
    state: string,
    inputResponses: Record<string, unknown>,
    link: ClientLink,
    caller: string | undefined,
    signal: AbortSignal,
  ) {
    const parked = this.parked.get(state);
    // Another caller's state is as unknown as an expired one.
    if (!parked || parked.call.relay.caller !== caller) throw expired('it is unknown or has expired');
    clearTimeout(parked.timer);
    this.parked.delete(state);
    parked.call.relay.link = link;
    parked.call.relay.answer(inputResponses);
    return this.outcome(parked.call, signal);
  }

  private park(call: ParkedCall): string {
    const state = relayId(this.bus.instance);
    const timer = setTimeout(() => {
      this.parked.delete(state);
      call.relay.end('the client did not answer in time');
      call.abort(`the client did not retry within ${this.waitMs / 1000} s`);
    }, this.waitMs);
    timer.unref();
    this.parked.set(state, { call, timer });
    // A call that fails while parked has nobody to tell; its rejection is not unhandled.
    call.running.catch(() => undefined);
    return state;
  }

  /** A message from another instance (or this one): shapes are trusted no further than Redis is, but never crash. */
  private onMessage(message: RelayMessage): void {
    try {
      switch (message.kind) {
        case 'answer':
          this.pending.settle(message.response, message.caller);
          return;
        case 'resume': {
          const { state, inputResponses, caller } = message;
          const link = this.linkTo(message.reply, 'modern', message.link);
          const run = (signal: AbortSignal) => this.resumeHere(state, inputResponses, link, caller, signal);
          this.serveFor(message.reply, run).catch((error: unknown) =>
            this.logger.warn({ err: String(error) }, 'could not resume a parked call'),
          );
          return;
        }
        case 'task': {
          const { method, taskId, inputResponses, caller } = message;
          const link = this.linkTo(message.reply, message.era === 'legacy' ? 'legacy' : 'modern', message.link);
          const run = (signal: AbortSignal) =>
            this.onTaskRequest?.({ method, taskId, inputResponses, caller }, link, signal) ??
            Promise.reject(new ProtocolError(-32601, 'Method not found'));
          this.serveFor(message.reply, run).catch((error: unknown) =>
            this.logger.warn({ err: String(error) }, 'could not serve a task request'),
          );
          return;
        }
        case 'cancel':
          this.resumedHere.get(message.to)?.abort();
          return;
        case 'alive':
          this.remoteWaits.get(message.to)?.touch();
          return;
        case 'related': {
          const wait = this.remoteWaits.get(message.to);
          wait?.touch();
          wait?.link.send(message.message as never).catch(() => undefined);
          return;
        }
        case 'outcome':
          this.remoteWaits.get(message.to)?.settle(message.outcome);
          return;
      }
    } catch (error) {
      this.logger.warn({ err: String(error) }, 'skipped a relay message that could not be used');
    }
  }

  /** How to reach a client on another instance: what is sent goes to that instance, as `related` messages. */
  private linkTo(reply: Reply, era: ClientLink['era'], said: DeclaredLink | undefined): ClientLink {
    return {
      era,
      capabilities: said?.capabilities as ClientCapabilities | undefined,
      logLevel: said?.logLevel as LoggingLevel | undefined,
      progressToken: said?.progressToken,
      send: async (related) => void (await this.bus.send(reply.instance, { kind: 'related', to: reply.id, message: related })),
    };
  }

  /** Runs a request for a client on another instance, and sends that instance its outcome (saying meanwhile that it is at it). */
  private async serveFor(reply: Reply, run: (signal: AbortSignal) => Promise<Result>): Promise<void> {
    const controller = new AbortController();
    this.resumedHere.set(reply.id, controller);
    const alive = setInterval(() => void this.bus.send(reply.instance, { kind: 'alive', to: reply.id }), ALIVE_EVERY_MS);
    alive.unref();
    let outcome: Outcome;
    try {
      const result = await run(controller.signal);
      outcome = { result: result as Record<string, unknown> };
    } catch (error) {
      const { code, message: text, data } = (error ?? {}) as Partial<ErrorShape>;
      outcome = { error: { code: Number.isSafeInteger(code) ? (code as number) : -32603, message: String(text ?? error), data } };
    } finally {
      clearInterval(alive);
      this.resumedHere.delete(reply.id);
    }
    for (let attempt = 1; attempt <= OUTCOME_TRIES; attempt++) {
      if (await this.bus.send(reply.instance, { kind: 'outcome', to: reply.id, outcome })) return;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
    this.logger.warn(
      { instance: reply.instance },
      "could not hand a request's outcome back to the instance its client is on; it is dropped",
    );
  }
}

/** What of a client's link travels to another instance. */
function declared({ capabilities, logLevel, progressToken }: ClientLink): DeclaredLink {
  return { capabilities, logLevel, progressToken };
}

function expired(why: string): ProtocolError {
  return new ProtocolError(-32602, `Invalid or expired requestState: ${why}`, { reason: 'invalid_request_state' });
}
