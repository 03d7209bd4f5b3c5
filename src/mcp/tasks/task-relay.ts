/**
 * Tasks through nexus (the two shapes: protocol/tasks.ts). A task a server started for a client
 * that takes tasks is handed out under an id of nexus's (task-directory.ts), and that client's
 * `tasks/*` requests about it go to the server, in the server's shape; a task started for a client
 * that takes none is followed to its end by nexus, which passes on its requests for input, and
 * the client gets the result as of any call. nexus runs a call as a task of its own for a
 * 2025-era client asking for one on a tool whose server runs none.
 */
import { ProtocolError, ProtocolErrorCode, type CallToolResult, type RequestOptions, type Result } from '@modelcontextprotocol/server';
import type { CallPeer } from '../downstreams/call-peer.js';
import type { Downstream } from '../downstreams/downstream.js';
import { isObject } from '../protocol/jsonrpc.js';
import { fromModern, relatedTo, shownTask, TERMINAL_STATUSES, type TaskShape } from '../protocol/tasks.js';
import type { ProtocolEra } from '../relay/client-link.js';
import { MAX_INPUT_ROUNDS } from '../relay/call-relay.js';
import { LocalTask } from './local-task.js';
import { keptFor, MAX_LOCAL_TASK_KEEP_MS, MAX_TASK_KEEP_MS, type TaskDirectory, type TaskRecord } from './task-directory.js';

/** The requests a client makes about one task. */
export type TaskMethod = 'tasks/get' | 'tasks/result' | 'tasks/cancel' | 'tasks/update';
/** Tasks one `tasks/list` page holds (each a request to its server). */
const TASK_PAGE_SIZE = 50;
/** The bounds on how often nexus asks a 2026-era server how a task it follows is going. */
const MIN_POLL_MS = 50;
const MAX_POLL_MS = 5_000;

/** What a task request needs of the call it comes in. */
export interface TaskCall {
  caller: string | undefined;
  requestId: string | number;
  link: { era: ProtocolEra };
  /** Set when the client takes tasks (with the ttl a 2025-era client asked for). */
  task?: { ttl?: number };
}

/** Runs a request on a server for `call`, as every request nexus relays is run (gateway.ts forward()). */
export type Forward<C extends TaskCall> = <T extends Result>(
  downstream: Downstream,
  call: C,
  run: (options: RequestOptions, peer: CallPeer) => Promise<T>,
) => Promise<T>;

/** The answer to a call that started a task. */
function created(task: TaskShape, taskId: string, era: ProtocolEra): Result {
  // A 2025-era tools/call result must carry content, even beside a task (the SDK's own rule).
  return era === 'legacy' ? { task: shownTask(task, taskId, era), content: [] } : { resultType: 'task', ...shownTask(task, taskId, era) };
}

const unknownTask = (taskId: string) =>
  new ProtocolError(ProtocolErrorCode.InvalidParams, `Failed to retrieve task: unknown task ${taskId}`);

/** Cancels a server's task nobody will ask about (its call is over), not waiting for the answer. */
function cancelQuietly(downstream: Downstream, taskId: string): void {
  void downstream.taskRequest('tasks/cancel', { taskId }, { timeout: downstream.config.call_timeout }).catch(() => undefined);
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = () => (clearTimeout(timer), reject(signal?.reason as Error));
    const timer = setTimeout(() => (signal?.removeEventListener('abort', onAbort), resolve()), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The outcome a 2026-era server's task details carry, as a result or an error. */
function outcomeOf(details: Record<string, unknown>): CallToolResult {
  if (details['status'] === 'completed' && isObject(details['result'])) return relatedTo(details['result'] as CallToolResult, undefined);
  const error = isObject(details['error']) ? details['error'] : {};
  const code = Number.isSafeInteger(error['code']) ? (error['code'] as number) : ProtocolErrorCode.InternalError;
  const why = typeof details['statusMessage'] === 'string' ? `: ${details['statusMessage']}` : '';
  throw new ProtocolError(
    code,
    typeof error['message'] === 'string' ? error['message'] : `the task ended ${String(details['status'])}${why}`,
    error['data'],
  );
}

export class TaskRelay<C extends TaskCall> {
  constructor(
    private readonly directory: TaskDirectory,
    private readonly servers: (name: string) => Downstream | undefined,
    private readonly forward: Forward<C>,
  ) {}

  /**
   * A tool call that started `task` on its server: handed to a client that takes tasks (when
   * `handOut`: nexus can find the server again), else followed to its end. Runs within the call.
   */
  async started(
    downstream: Downstream,
    task: TaskShape,
    call: C,
    options: RequestOptions,
    peer: CallPeer,
    handOut: boolean,
  ): Promise<Result> {
    // A 2025-era server's task asks for input on `tasks/result`, which a 2026-era client never
    // opens: such a client gets the result of the call instead, nexus following the task.
    if (call.task && handOut && (downstream.modern || call.link.era === 'legacy')) {
      const record = { kind: 'server', server: downstream.name, taskId: task.taskId } as const;
      try {
        return created(
          task,
          this.directory.add(call.caller, record, keptFor(task['ttl'] as number | null, MAX_TASK_KEEP_MS)),
          call.link.era,
        );
      } catch (error) {
        // Full since the call began: the server's task is not left running for nobody.
        cancelQuietly(downstream, task.taskId);
        throw error;
      }
    }
    const result = await this.follow(downstream, task.taskId, options, peer, true, task['ttl']);
    // A 2025-era client asked for a task: it gets one, over already.
    return call.task && call.link.era === 'legacy' ? this.startLocal(call, call.task.ttl, () => Promise.resolve(result)) : result;
  }

  /** Whether the caller of `call` may start a task now (checked before a call that may start one). */
  hasRoom(call: C): boolean {
    return this.directory.hasRoom(call.caller);
  }

  /** Runs a call as nexus's own task (`run` gets the task's signal); answers at once with the task. */
  startLocal(call: C, ttl: number | undefined, run: (signal: AbortSignal) => Promise<CallToolResult>): Result {
    const keep = keptFor(ttl, MAX_LOCAL_TASK_KEEP_MS);
    const task = new LocalTask(run, keep);
    const id = this.directory.add(call.caller, { kind: 'local', task }, keep);
    task.start();
    return created(task.describe(id), id, call.link.era);
  }

  /** `tasks/get`: the task's state (for a 2026-era client, with its outcome or requests for input). */
  async get(taskId: string, call: C): Promise<Result> {
    const record = this.find(taskId, call);
    if (record.kind === 'local') return this.details(record.task.describe(taskId), taskId, call, () => record.task.result());
    const downstream = this.serverOf(record);
    const task = await this.ask(downstream, call, 'tasks/get', record.taskId);
    if (downstream.modern) {
      // Already a 2026-era task's details: the client of that era sees them as they are.
      return call.link.era === 'modern' ? { ...task, taskId } : shownTask(fromModern(task), taskId, 'legacy');
    }
    return this.details(task as TaskShape, taskId, call, () => this.ask(downstream, call, 'tasks/result', record.taskId));
  }

  /** `tasks/result` (2025-era): waits for the task to end, then its result. */
  async result(taskId: string, call: C): Promise<Result> {
    const record = this.find(taskId, call);
    if (record.kind === 'local') return relatedTo(await record.task.result(), taskId);
    const downstream = this.serverOf(record);
    const result = await this.forward(downstream, call, (options, peer) => this.follow(downstream, record.taskId, options, peer, false));
    return relatedTo(result, taskId);
  }

  /** `tasks/cancel`: the task as it is now (2025-era), or nothing (2026-era, where cancelling is a request). */
  async cancel(taskId: string, call: C): Promise<Result> {
    const record = this.find(taskId, call);
    const legacy = call.link.era === 'legacy';
    if (record.kind === 'local') {
      if (!record.task.cancel('cancelled by the client') && legacy) {
        throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Cannot cancel task ${taskId}: it is ${record.task.status} already`);
      }
      return legacy ? record.task.describe(taskId) : {};
    }
    const downstream = this.serverOf(record);
    const task = await this.ask(downstream, call, 'tasks/cancel', record.taskId);
    if (!legacy) return {};
    // A 2026-era server acknowledges only; a 2025-era client is owed the task as it now stands.
    return downstream.modern ? this.get(taskId, call) : shownTask(task as TaskShape, taskId, 'legacy');
  }

  /** `tasks/update` (2026-era): answers to a task's requests for input, for the server whose task it is. */
  async update(taskId: string, inputResponses: unknown, call: C): Promise<Result> {
    const record = this.find(taskId, call);
    const downstream = record.kind === 'server' ? this.serverOf(record) : undefined;
    // A 2025-era server asks for input on its `tasks/result` stream, which a 2026-era client never opens.
    if (!downstream?.modern) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Task ${taskId} is not waiting for input`);
    await this.ask(downstream, call, 'tasks/update', (record as { taskId: string }).taskId, { inputResponses });
    return {};
  }

  /** `tasks/list` (2025-era): the caller's own tasks, a page at a time. */
  async list(cursor: string | undefined, call: C): Promise<Result> {
    const start = cursor === undefined ? 0 : Number(cursor);
    if (!Number.isSafeInteger(start) || start < 0) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Invalid cursor: ${cursor}`);
    const mine = this.directory.of(call.caller);
    const page = mine.slice(start, start + TASK_PAGE_SIZE);
    const tasks = await Promise.all(
      page.map(([id], index) =>
        // Each its own request id, so that every one of them is a call of its own in flight.
        this.get(id, { ...call, requestId: `${call.requestId}#${index}` }).catch((error: unknown) => {
          const now = new Date().toISOString();
          const why = `nexus could not ask the server: ${(error as Error).message}`;
          return { taskId: id, status: 'failed', statusMessage: why, createdAt: now, lastUpdatedAt: now, ttl: null };
        }),
      ),
    );
    const next = start + TASK_PAGE_SIZE < mine.length ? String(start + TASK_PAGE_SIZE) : undefined;
    return { tasks, ...(next !== undefined && { nextCursor: next }) };
  }

  /**
   * A server's task to its end: its status asked at the server's poll interval, each answer that
   * it is still at work starting the call's timeout again. A 2025-era server's result, and its
   * questions, come on `tasks/result`, asked once the task needs input or is over; a 2026-era
   * server's come in `tasks/get`, its questions put to the client and answered with
   * `tasks/update` (at most MAX_INPUT_ROUNDS times). The call ending first (the client went away,
   * call_timeout) cancels the task, unless `cancelIfLeft` is false (a client's own `tasks/result`
   * leaves its task running).
   */
  private async follow(
    downstream: Downstream,
    taskId: string,
    options: RequestOptions,
    peer: CallPeer,
    cancelIfLeft = true,
    ttl?: unknown,
  ): Promise<CallToolResult> {
    // Followed no longer than the server keeps the task.
    const deadline = typeof ttl === 'number' && ttl > 0 ? Date.now() + ttl : Infinity;
    let rounds = 0;
    let result: Promise<Record<string, unknown>> | undefined;
    try {
      for (;;) {
        const details = await downstream.taskRequest('tasks/get', { taskId }, options, peer);
        const status = String(details['status']);
        if (!downstream.modern && !result && (status === 'input_required' || TERMINAL_STATUSES.has(status))) {
          // Its questions and its result come on tasks/result; its status is still asked meanwhile.
          result = downstream.taskRequest('tasks/result', { taskId }, options, peer);
          result.catch(() => undefined);
        }
        if (downstream.modern && TERMINAL_STATUSES.has(status)) return outcomeOf(details);
        const requests = details['inputRequests'];
        if (downstream.modern && status === 'input_required' && isObject(requests) && Object.keys(requests).length > 0) {
          if (++rounds > MAX_INPUT_ROUNDS) {
            throw new ProtocolError(-32603, `the task on server '${downstream.name}' asked for input more than ${MAX_INPUT_ROUNDS} times`);
          }
          const inputResponses: Record<string, unknown> = {};
          for (const [key, request] of Object.entries(requests)) {
            const { method, params } = request as { method: string; params?: Record<string, unknown> };
            inputResponses[key] = await peer.ask(method, params ?? {}, options.signal ?? new AbortController().signal);
          }
          await downstream.taskRequest('tasks/update', { taskId, inputResponses }, options, peer);
        }
        if (Date.now() > deadline) throw new ProtocolError(-32603, `the task on server '${downstream.name}' outlived its ttl`);
        if (!TERMINAL_STATUSES.has(status)) peer.alive();
        const every = Number(details['pollIntervalMs'] ?? details['pollInterval']);
        const wait = pause(Math.min(Math.max(Number.isFinite(every) ? every : 1_000, MIN_POLL_MS), MAX_POLL_MS), options.signal);
        if (!result) {
          await wait;
          continue;
        }
        wait.catch(() => undefined);
        if (await Promise.race([result.then(() => true), wait.then(() => false)])) {
          return relatedTo((await result) as CallToolResult, undefined);
        }
      }
    } catch (error) {
      if (cancelIfLeft && options.signal?.aborted) {
        cancelQuietly(downstream, taskId);
      }
      throw error;
    }
  }

  /** A 2025-era task as `tasks/get` shows it; for a 2026-era client with `resultType: "complete"`, and its outcome once it is over. */
  private async details(task: TaskShape, taskId: string, call: C, outcome: () => Promise<Result>): Promise<Result> {
    if (call.link.era === 'legacy') return shownTask(task, taskId, 'legacy');
    const details = { ...shownTask(task, taskId, 'modern'), resultType: 'complete' };
    if (!TERMINAL_STATUSES.has(task.status) || task.status === 'cancelled') return details;
    try {
      return { ...details, result: relatedTo(await outcome(), undefined) };
    } catch (error) {
      const { code, message } = error as { code?: unknown; message?: unknown };
      return { ...details, status: 'failed', error: { code: Number.isSafeInteger(code) ? code : -32603, message: String(message) } };
    }
  }

  /** One request about a server's task, run as the client's request. */
  private ask(downstream: Downstream, call: C, method: TaskMethod, taskId: string, more: Record<string, unknown> = {}) {
    return this.forward(downstream, call, (options, peer) => downstream.taskRequest(method, { ...more, taskId }, options, peer));
  }

  private find(taskId: string, call: C): TaskRecord {
    const record = this.directory.get(taskId, call.caller);
    if (!record) throw unknownTask(taskId);
    return record;
  }

  private serverOf(record: Extract<TaskRecord, { kind: 'server' }>): Downstream {
    const downstream = this.servers(record.server);
    if (!downstream) throw unknownTask(record.taskId);
    return downstream;
  }
}
