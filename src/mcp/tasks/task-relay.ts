/**
 * Tasks through nexus. A server's task (2025-11-25 tasks, a tool whose `execution.taskSupport`
 * allows one) is started for a client that takes tasks and handed out under an id of nexus's
 * (task-directory.ts), whose `tasks/*` requests then go to that server; nexus runs a call as a
 * task of its own for a 2025-era client asking for one on a tool that runs none; and a tool that
 * requires a task runs for a client that takes none, nexus waiting for the task's result as for
 * any call's. A 2026-era client takes tasks by declaring the tasks extension, and sees them in
 * that revision's shape (`resultType: "task"`, `ttlMs`, the result inside `tasks/get`).
 */
import {
  ProtocolError,
  ProtocolErrorCode,
  type CallToolRequestParams,
  type CallToolResult,
  type RequestOptions,
  type Result,
} from '@modelcontextprotocol/server';
import type { CallPeer } from '../downstreams/call-peer.js';
import type { Downstream, TaskShape } from '../downstreams/downstream.js';
import type { ProtocolEra } from '../relay/client-link.js';
import { LocalTask } from './local-task.js';
import type { TaskDirectory, TaskRecord } from './task-directory.js';

export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';
/** The requests a client makes about one task. */
export type TaskMethod = 'tasks/get' | 'tasks/result' | 'tasks/cancel' | 'tasks/update';
const RELATED_TASK = 'io.modelcontextprotocol/related-task';
/** Tasks one `tasks/list` page holds (each a request to its server). */
export const TASK_PAGE_SIZE = 50;
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

/** What a task request needs of the call it comes in. */
export interface TaskCall {
  caller: string | undefined;
  link: { era: ProtocolEra };
}

/** Runs a request on a server for `call`, as every request nexus relays is run (gateway.ts forward()). */
export type Forward<C extends TaskCall> = <T extends Result>(
  downstream: Downstream,
  call: C,
  run: (options: RequestOptions, peer: CallPeer) => Promise<T>,
) => Promise<T>;

/** A task as a client of `era` sees it, under nexus's id. */
function shown(task: Record<string, unknown>, taskId: string, era: ProtocolEra): Record<string, unknown> {
  if (era === 'legacy') return { ...task, taskId };
  const { ttl, pollInterval, ...rest } = task;
  return { ...rest, taskId, ttlMs: ttl ?? null, ...(typeof pollInterval === 'number' && { pollIntervalMs: pollInterval }) };
}

/** The answer to a call that started a task. */
function created(task: Record<string, unknown>, taskId: string, era: ProtocolEra): Result {
  // A 2025-era tools/call result must carry content, even beside a task (the SDK's own rule).
  return era === 'legacy' ? { task: shown(task, taskId, era), content: [] } : { resultType: 'task', ...shown(task, taskId, era) };
}

/** A server's result with the task it belongs to named by nexus's id (or not at all). */
function relatedTo<T extends Result>(result: T, taskId: string | undefined): T {
  const meta = result._meta as Record<string, unknown> | undefined;
  if (!meta || !(RELATED_TASK in meta)) return result;
  const { [RELATED_TASK]: _related, ...rest } = meta;
  const _meta = taskId === undefined ? rest : { ...rest, [RELATED_TASK]: { taskId } };
  return { ...result, _meta };
}

const unknownTask = (taskId: string) =>
  new ProtocolError(ProtocolErrorCode.InvalidParams, `Failed to retrieve task: unknown task ${taskId}`);

export class TaskRelay<C extends TaskCall> {
  constructor(
    private readonly directory: TaskDirectory,
    private readonly servers: (name: string) => Downstream | undefined,
    private readonly forward: Forward<C>,
  ) {}

  /** Starts `params` as a task on its server, for a client that takes tasks. */
  async start(downstream: Downstream, params: CallToolRequestParams, ttl: number | undefined, call: C): Promise<Result> {
    const task = await this.forward(downstream, call, (options, peer) => downstream.startTask(params, ttl, options, peer));
    const id = this.directory.add(
      call.caller,
      { kind: 'server', server: downstream.name, taskId: task.taskId },
      task['ttl'] as number | null,
    );
    return created(task, id, call.link.era);
  }

  /** Runs a call as nexus's own task (`run` gets the task's signal); answers at once with the task. */
  startLocal(call: C, ttl: number | undefined, run: (signal: AbortSignal) => Promise<CallToolResult>): Result {
    const task = new LocalTask(run, ttl ?? null);
    const id = this.directory.add(call.caller, { kind: 'local', task }, ttl);
    return created(task.describe(id), id, call.link.era);
  }

  /** A tool that requires a task, for a client that takes none: its task's result, as a call's. */
  async runToEnd(downstream: Downstream, params: CallToolRequestParams, call: C): Promise<CallToolResult> {
    return this.forward(downstream, call, async (options, peer) => {
      const task: TaskShape = await downstream.startTask(params, undefined, options, peer);
      try {
        return relatedTo((await downstream.taskRequest('tasks/result', task.taskId, options, peer)) as CallToolResult, undefined);
      } catch (error) {
        // The client went away or call_timeout passed: the server's task is not left running.
        if (options.signal?.aborted) void this.cancelQuietly(downstream, task.taskId);
        throw error;
      }
    });
  }

  /** `tasks/get`: the task's state (for a 2026-era client, with its result or error once it has one). */
  async get(taskId: string, call: C): Promise<Result> {
    const record = this.find(taskId, call);
    if (record.kind === 'local') return this.details(record.task.describe(taskId), taskId, call, () => record.task.result());
    const downstream = this.serverOf(record);
    const task = await this.forward(downstream, call, (options, peer) => downstream.taskRequest('tasks/get', record.taskId, options, peer));
    return this.details(task, taskId, call, () =>
      this.forward(downstream, call, (options, peer) => downstream.taskRequest('tasks/result', record.taskId, options, peer)),
    );
  }

  /** `tasks/result` (2025-era): waits for the task to end, then its result. */
  async result(taskId: string, call: C): Promise<Result> {
    const record = this.find(taskId, call);
    if (record.kind === 'local') return { ...(await record.task.result()), _meta: { [RELATED_TASK]: { taskId } } };
    const downstream = this.serverOf(record);
    const result = await this.forward(downstream, call, (options, peer) =>
      downstream.taskRequest('tasks/result', record.taskId, options, peer),
    );
    return relatedTo(result, taskId);
  }

  /** `tasks/cancel`: the task as it is now (2025-era), or nothing (2026-era, where cancelling is a request). */
  async cancel(taskId: string, call: C): Promise<Result> {
    const record = this.find(taskId, call);
    if (record.kind === 'local') {
      if (!record.task.cancel('cancelled by the client') && call.link.era === 'legacy') {
        throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Cannot cancel task ${taskId}: it is ${record.task.status} already`);
      }
      return call.link.era === 'legacy' ? record.task.describe(taskId) : {};
    }
    const downstream = this.serverOf(record);
    const task = await this.forward(downstream, call, (options, peer) =>
      downstream.taskRequest('tasks/cancel', record.taskId, options, peer),
    );
    return call.link.era === 'legacy' ? shown(task, taskId, 'legacy') : {};
  }

  /**
   * `tasks/update` (2026-era): answers to a task's requests for input. The servers nexus starts
   * tasks on (2025-11-25 tasks) ask for input on their `tasks/result` stream, which nexus does not
   * hand a 2026-era client; so no task of nexus's ever waits for one.
   */
  update(taskId: string, call: C): Promise<Result> {
    this.find(taskId, call);
    return Promise.reject(new ProtocolError(ProtocolErrorCode.InvalidParams, `Task ${taskId} is not waiting for input`));
  }

  /** `tasks/list` (2025-era): the caller's own tasks, a page at a time. */
  async list(cursor: string | undefined, call: C): Promise<Result> {
    const start = cursor === undefined ? 0 : Number(cursor);
    if (!Number.isSafeInteger(start) || start < 0) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Invalid cursor: ${cursor}`);
    const mine = this.directory.of(call.caller);
    const page = mine.slice(start, start + TASK_PAGE_SIZE);
    const tasks = await Promise.all(
      page.map(([id, record]) =>
        record.kind === 'local'
          ? record.task.describe(id)
          : this.get(id, call).catch((error: unknown) => ({ taskId: id, status: 'failed', statusMessage: (error as Error).message })),
      ),
    );
    const next = start + TASK_PAGE_SIZE < mine.length ? String(start + TASK_PAGE_SIZE) : undefined;
    return { tasks, ...(next !== undefined && { nextCursor: next }) };
  }

  /** A task as `tasks/get` shows it; for a 2026-era client with `resultType: "complete"`, and its outcome once it is over. */
  private async details(task: Record<string, unknown>, taskId: string, call: C, outcome: () => Promise<Result>): Promise<Result> {
    if (call.link.era === 'legacy') return shown(task, taskId, 'legacy');
    const details = { ...shown(task, taskId, 'modern'), resultType: 'complete' };
    if (!TERMINAL.has(task['status'] as string) || task['status'] === 'cancelled') return details;
    try {
      return { ...details, result: relatedTo(await outcome(), undefined) };
    } catch (error) {
      const { code, message } = error as { code?: unknown; message?: unknown };
      return { ...details, status: 'failed', error: { code: Number.isSafeInteger(code) ? code : -32603, message: String(message) } };
    }
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

  private async cancelQuietly(downstream: Downstream, taskId: string): Promise<void> {
    await downstream.taskRequest('tasks/cancel', taskId, { timeout: downstream.config.call_timeout }).catch(() => undefined);
  }
}
