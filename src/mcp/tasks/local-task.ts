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
  /** The size of the result kept, once there is one. */
  resultBytes = 0;
  readonly createdAt = new Date().toISOString();
  private lastUpdatedAt = this.createdAt;
  private statusMessage: string | undefined;
  private readonly controller = new AbortController();
  private outcome: Promise<CallToolResult> | undefined;
  private told: ((bytes: number) => void) | undefined;

  constructor(
    private readonly run: (signal: AbortSignal) => Promise<CallToolResult>,
    /** How long nexus keeps the task (its ttl). */
    private readonly keepMs: number,
  ) {}

  /** Starts the call. */
  start(): void {
    this.outcome = this.run(this.controller.signal);
    this.outcome.then(
      (result) => {
        this.settle('completed');
        this.resultBytes = sizeOf(result);
        this.told?.(this.resultBytes);
      },
      (error: unknown) => this.settle('failed', error instanceof Error ? error.message : String(error)),
    );
  }

  /** Tells `told` the size of the result once there is one. */
  onResult(told: (bytes: number) => void): void {
    this.told = told;
  }

  /** The task as 2025-11-25 `tasks/get` describes it. */
  describe(taskId: string): TaskShape {
    return {
      taskId,
      status: this.status,
      ...(this.statusMessage !== undefined && { statusMessage: this.statusMessage }),
      createdAt: this.createdAt,
      lastUpdatedAt: this.lastUpdatedAt,
      ttl: this.keepMs,
      pollInterval: POLL_INTERVAL_MS,
    };
  }

  /** The call's result once it is over; its error if it failed or was cancelled. */
  result(): Promise<CallToolResult> {
    return this.outcome ?? Promise.reject(new Error('the task has not started'));
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

function sizeOf(result: CallToolResult): number {
  try {
    return Buffer.byteLength(JSON.stringify(result));
  } catch {
    return 0;
  }
}
