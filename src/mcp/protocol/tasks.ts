/**
 * Tasks in their two shapes. 2025-11-25 has them in the protocol: a call asks for one with
 * `task: { ttl }` and gets `{ task }`; `tasks/result` waits for the result. 2026-07-28 has them
 * as an extension the client declares: the server decides, answers `{ resultType: "task", ... }`
 * with `ttlMs` and `pollIntervalMs`, and `tasks/get` carries the result, the error, or the
 * requests for input that `tasks/update` answers. nexus holds every task in the 2025 shape.
 */
import { isObject } from './jsonrpc.js';

export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';
export const RELATED_TASK = 'io.modelcontextprotocol/related-task';

/** A task as 2025-11-25 describes it (what nexus reads of it; the rest passes through). */
export interface TaskShape extends Record<string, unknown> {
  taskId: string;
  status: string;
}

export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);

/** The task a call's result started, in either shape; undefined for an ordinary result. */
export function taskOf(result: unknown): TaskShape | undefined {
  if (!isObject(result)) return undefined;
  if (result['resultType'] === 'task') return fromModern(result);
  const task = result['task'];
  return isObject(task) && typeof task['taskId'] === 'string' && typeof task['status'] === 'string' ? (task as TaskShape) : undefined;
}

/** A 2026-era task (a handle or `tasks/get`'s details) in the 2025 shape, its outcome left out. */
export function fromModern(task: Record<string, unknown>): TaskShape {
  const { resultType: _type, ttlMs, pollIntervalMs, result: _result, error: _error, inputRequests: _requests, ...rest } = task;
  return { ...(rest as TaskShape), ttl: ttlMs ?? null, ...(pollIntervalMs !== undefined && { pollInterval: pollIntervalMs }) };
}

/** A task as a client of `era` sees it, under the id nexus gave it. */
export function shownTask(task: TaskShape, taskId: string, era: 'legacy' | 'modern'): Record<string, unknown> {
  if (era === 'legacy') return { ...task, taskId };
  const { ttl, pollInterval, ...rest } = task;
  return { ...rest, taskId, ttlMs: ttl ?? null, ...(typeof pollInterval === 'number' && { pollIntervalMs: pollInterval }) };
}

/** A result with the task it belongs to named by `taskId` (nexus's id), or by none. */
export function relatedTo<T extends { _meta?: unknown }>(result: T, taskId: string | undefined): T {
  const meta = result._meta as Record<string, unknown> | undefined;
  if (!meta || !(RELATED_TASK in meta))
    return taskId === undefined ? result : { ...result, _meta: { ...meta, [RELATED_TASK]: { taskId } } };
  const { [RELATED_TASK]: _related, ...rest } = meta;
  return { ...result, _meta: taskId === undefined ? rest : { ...rest, [RELATED_TASK]: { taskId } } };
}
