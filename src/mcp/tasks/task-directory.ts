/**
 * The tasks nexus handed out, by the id it gave the client. A task is a server's own (nexus
 * started it there and passes its requests on) or nexus's (a client asked for a task, and the
 * tool's server runs none). Ids name their instance (relay/bus.ts), which alone holds the task.
 *
 * Only the caller who started a task may see it, as an unknown id otherwise. A caller nexus
 * cannot tell from others (no session, no token) has the task's id as its only key: such tasks
 * are never listed. Bounded: a task is forgotten after its ttl (a day at most; nexus's own, an
 * hour), a caller holds at most MAX_TASKS_PER_CALLER (callers nexus cannot tell apart are
 * bounded together only by the instance's), an instance MAX_TASKS (past either, a new
 * task is refused rather than another caller's pushed out), and the results of nexus's own tasks
 * at most MAX_RESULT_BYTES together (past it, the oldest finished ones are forgotten).
 */
import { ProtocolError } from '@modelcontextprotocol/server';
import { relayId } from '../relay/bus.js';
import type { LocalTask } from './local-task.js';

const MAX_TASKS = 10_000;
const MAX_TASKS_PER_CALLER = 1_000;
export const MAX_TASK_KEEP_MS = 24 * 60 * 60 * 1000;
export const MAX_LOCAL_TASK_KEEP_MS = 60 * 60 * 1000;
const MAX_RESULT_BYTES = 256 * 1024 * 1024;

export type TaskRecord = { kind: 'server'; server: string; taskId: string } | { kind: 'local'; task: LocalTask };

interface Entry {
  caller: string | undefined;
  record: TaskRecord;
  expiresAt: number;
}

/** The refusal of a task past the bounds. */
export const full = () => new ProtocolError(-32603, 'nexus holds as many tasks as it may for now; try again when some have ended');

/** How long a task is kept, given the ttl asked for (null or none: as long as nexus keeps any). */
export function keptFor(ttlMs: number | null | undefined, longest: number): number {
  return Math.min(typeof ttlMs === 'number' && ttlMs > 0 ? ttlMs : longest, longest);
}

export class TaskDirectory {
  private readonly entries = new Map<string, Entry>();
  private readonly perCaller = new Map<string | undefined, number>();
  private resultBytes = 0;

  constructor(
    private readonly instance: string,
    private readonly max = MAX_TASKS,
    private readonly maxPerCaller = MAX_TASKS_PER_CALLER,
    private readonly maxResultBytes = MAX_RESULT_BYTES,
  ) {}

  /** Whether `caller` may start a task now. */
  hasRoom(caller: string | undefined): boolean {
    this.sweep();
    // Callers nexus cannot tell apart do not share one caller's allowance: the instance's bounds them.
    return this.entries.size < this.max && (caller === undefined || (this.perCaller.get(caller) ?? 0) < this.maxPerCaller);
  }

  /** Records a task for `caller`, kept for `keepMs`; its id for the client. Refused when full. */
  add(caller: string | undefined, record: TaskRecord, keepMs: number): string {
    if (!this.hasRoom(caller)) throw full();
    const id = relayId(this.instance);
    this.entries.set(id, { caller, record, expiresAt: Date.now() + keepMs });
    this.perCaller.set(caller, (this.perCaller.get(caller) ?? 0) + 1);
    if (record.kind === 'local') record.task.onResult((bytes) => this.kept(bytes));
    return id;
  }

  /** `caller`'s task `id`; undefined when unknown, expired or another caller's. */
  get(id: string, caller: string | undefined): TaskRecord | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) return void this.forget(id);
    return entry.caller === caller ? entry.record : undefined;
  }

  /** `caller`'s tasks still kept, oldest first; none for a caller nexus cannot tell from others. */
  of(caller: string | undefined): [string, TaskRecord][] {
    if (caller === undefined) return [];
    this.sweep();
    const found: [string, TaskRecord][] = [];
    for (const [id, entry] of this.entries) if (entry.caller === caller) found.push([id, entry.record]);
    return found;
  }

  /** Every task ends: nexus's own are cancelled (nexus is shutting down). */
  close(): void {
    for (const id of [...this.entries.keys()]) this.forget(id);
  }

  /** A result of nexus's own kept: past the budget, the oldest finished ones are forgotten. */
  private kept(bytes: number): void {
    this.resultBytes += bytes;
    for (const [id, entry] of this.entries) {
      if (this.resultBytes <= this.maxResultBytes) return;
      if (entry.record.kind === 'local' && entry.record.task.status !== 'working') this.forget(id);
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, entry] of this.entries) if (entry.expiresAt <= now) this.forget(id);
  }

  private forget(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    const left = (this.perCaller.get(entry.caller) ?? 1) - 1;
    if (left > 0) this.perCaller.set(entry.caller, left);
    else this.perCaller.delete(entry.caller);
    if (entry.record.kind === 'local') {
      this.resultBytes -= entry.record.task.resultBytes;
      entry.record.task.cancel('the task was forgotten');
    }
  }
}
