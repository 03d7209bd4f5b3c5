/**
 * A call nexus runs as a task itself: a 2025-era client asked for a task (`execute` offers them),
 * and the tool's server runs none. The call goes on after the request that started it; the
 * client asks how it is going, for its result, or cancels it.
 */
import type { CallToolResult } from '@modelcontextprotocol/server';
import type { TaskShape } from '../protocol/tasks.js';

export type TaskStatus = 'working' | 'completed' | 'failed' | 'cancelled';

/** How often a client should ask: nexus's own tasks are ordinary calls, mostly short. */
const POLL_INTERVAL_MS = 1_000;

export class LocalTask {
  status: TaskStatus = 'working';
  readonly createdAt = new Date().toISOString();
  private lastUpdatedAt = this.createdAt;
  private statusMessage: string | undefined;
  private readonly controller = new AbortController();
  private readonly outcome: Promise<CallToolResult>;

  constructor(
    run: (signal: AbortSignal) => Promise<CallToolResult>,
    private readonly ttl: number | null,
  ) {
    this.outcome = run(this.controller.signal);
    this.outcome.then(
      () => this.settle('completed'),
      (error: unknown) => this.settle('failed', error instanceof Error ? error.message : String(error)),
    );
  }

  /** The task as 2025-11-25 `tasks/get` describes it. */
  describe(taskId: string): TaskShape {
    return {
      taskId,
      status: this.status,
      ...(this.statusMessage !== undefined && { statusMessage: this.statusMessage }),
      createdAt: this.createdAt,
      lastUpdatedAt: this.lastUpdatedAt,
      ttl: this.ttl,
      pollInterval: POLL_INTERVAL_MS,
    };
  }

  /** The call's result once it is over; its error if it failed or was cancelled. */
  result(): Promise<CallToolResult> {
    return this.outcome;
  }

  /** False when the task was over already. */
  cancel(reason: string): boolean {
    if (this.status !== 'working') return false;
    this.settle('cancelled', reason);
    this.controller.abort(reason);
    return true;
  }

  private settle(status: TaskStatus, message?: string): void {
    if (this.status !== 'working') return;
    this.status = status;
    this.statusMessage = message;
    this.lastUpdatedAt = new Date().toISOString();
  }
}
