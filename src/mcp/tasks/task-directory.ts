/**
 * The tasks nexus handed out, by the id it gave the client. A task is a server's own (nexus
 * started it there and passes its requests on) or nexus's (a client asked for a task, and the
 * tool's server runs none). Ids name their instance (relay/bus.ts), which alone holds the task;
 * only the caller who started a task may see it, as an unknown id otherwise. Bounded in number
 * and in time: a task is forgotten after its ttl, and after a day at most.
 */
import { relayId } from '../relay/bus.js';
import type { LocalTask } from './local-task.js';

export const MAX_TASKS = 10_000;
export const MAX_TASK_KEEP_MS = 24 * 60 * 60 * 1000;

export type TaskRecord = { kind: 'server'; server: string; taskId: string } | { kind: 'local'; task: LocalTask };

interface Entry {
  caller: string | undefined;
  record: TaskRecord;
  expiresAt: number;
}

export class TaskDirectory {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly instance: string,
    private readonly max = MAX_TASKS,
  ) {}

  /** Records a task for `caller`, kept for `ttlMs` (null: as long as nexus keeps any); its id for the client. */
  add(caller: string | undefined, record: TaskRecord, ttlMs: number | null | undefined): string {
    if (this.entries.size >= this.max) this.forget(this.entries.keys().next().value as string);
    const id = relayId(this.instance);
    const keep = Math.min(typeof ttlMs === 'number' && ttlMs > 0 ? ttlMs : MAX_TASK_KEEP_MS, MAX_TASK_KEEP_MS);
    this.entries.set(id, { caller, record, expiresAt: Date.now() + keep });
    return id;
  }

  /** `caller`'s task `id`; undefined when unknown, expired or another caller's. */
  get(id: string, caller: string | undefined): TaskRecord | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) return void this.forget(id);
    return entry.caller === caller ? entry.record : undefined;
  }

  /** `caller`'s tasks still kept, oldest first. */
  of(caller: string | undefined): [string, TaskRecord][] {
    const now = Date.now();
    const found: [string, TaskRecord][] = [];
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt <= now) this.forget(id);
      else if (entry.caller === caller) found.push([id, entry.record]);
    }
    return found;
  }

  /** Every task ends: nexus's own are cancelled (nexus is shutting down). */
  close(): void {
    for (const id of [...this.entries.keys()]) this.forget(id);
  }

  private forget(id: string): void {
    const entry = this.entries.get(id);
    this.entries.delete(id);
    if (entry?.record.kind === 'local') entry.record.task.cancel('the task was forgotten');
  }
}
