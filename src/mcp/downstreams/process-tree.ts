/**
 * Ending a stdio server and everything it started. A server launched through a wrapper
 * (`sh -c`, `npx`) runs as a grandchild, which outlives the wrapper unless it is found and ended
 * too; its pids are read from /proc (Linux) before the wrapper goes.
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** How long a process gets to exit after SIGTERM before it is killed. */
export const KILL_GRACE_MS = 2_000;

/** Every descendant of `pid`, from /proc; none where there is no /proc. */
export function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // the process ended while we looked
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift() as number) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** Sends a signal (0: just look); false when the process is gone, which may happen at any time. */
function signal(pid: number, name: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false;
  }
}

const alive = (pid: number) => signal(pid, 0);

/** SIGTERM, then SIGKILL if still running after the grace period. */
export async function terminate(child: ChildProcess): Promise<void> {
  const running = () => child.exitCode === null && child.signalCode === null;
  if (!running()) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => running() && child.kill('SIGKILL'), KILL_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** The same for processes we only know by pid (descendants seen moments ago). */
export async function terminatePids(pids: number[]): Promise<void> {
  const living = pids.filter((pid) => signal(pid, 'SIGTERM'));
  const deadline = Date.now() + KILL_GRACE_MS;
  while (Date.now() < deadline && living.some(alive)) await new Promise((resolve) => setTimeout(resolve, 25));
  for (const pid of living) signal(pid, 'SIGKILL');
}
