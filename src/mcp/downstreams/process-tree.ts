/**
 * Ending a stdio server and everything it started. Each server runs in a process group of its own
 * (spawned `detached`), so one signal reaches it and whatever it started, however deep (a server
 * launched through `sh -c` or `npx` runs as a grandchild). Descendants that left the group (a
 * daemon's `setsid`) are found through /proc (Linux) before the server goes, and signalled by pid.
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** How long a server gets to exit by itself once its stdin is closed, before it is signalled. */
export const EOF_GRACE_MS = 1_000;

/** How long a process gets to exit after SIGTERM before it is killed. */
export const KILL_GRACE_MS = 2_000;

/** How long to wait for killed processes to be gone. */
const REAP_WAIT_MS = 1_000;

/**
 * Ends a stdio server in a process group of its own as the MCP spec asks of a client: its stdin is
 * closed and it gets EOF_GRACE_MS to exit by itself; then SIGTERM goes to its group and to its
 * descendants outside the group, and SIGKILL to what still runs after KILL_GRACE_MS. Resolves once
 * the server itself has exited.
 */
export async function endProcessGroup(child: ChildProcess): Promise<void> {
  const pgid = child.pid;
  if (pgid === undefined) return;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  // Looked up first: once the server has exited, its descendants are no longer found as its.
  const { members, strays } = familyOf(pgid);
  child.stdin?.end();
  await within(exited, EOF_GRACE_MS);
  // An empty group is never signalled: its id may belong to another process's group by now.
  const group = groupRunning(pgid) ? [-pgid] : [];
  for (const target of [...group, ...strays]) signal(target, 'SIGTERM');
  const deadline = Date.now() + KILL_GRACE_MS;
  while (Date.now() < deadline && [...members, ...strays].some(running)) await new Promise((resolve) => setTimeout(resolve, 25));
  // Looked up again: the group may have started processes since.
  const left = familyOf(pgid);
  const survivors = [...left.members, ...left.strays, ...strays].filter(running);
  if (survivors.length > 0) for (const target of [...(groupRunning(pgid) ? [-pgid] : []), ...survivors]) signal(target, 'SIGKILL');
  // A killed process takes a moment to be gone (longer on a busy machine): nexus waits, briefly, so
  // that once it has exited none of them is left.
  const gone = Date.now() + REAP_WAIT_MS;
  while (Date.now() < gone && survivors.some(running)) await new Promise((resolve) => setTimeout(resolve, 10));
  await exited;
}

/** Whether process group `pgid` still has a running member. */
export const groupRunning = (pgid: number): boolean => running(-pgid);

/** Waits for `promise`, but no longer than `ms`. */
async function within(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/**
 * The running members of group `pgid` and the descendants of its leader that are in other groups,
 * from /proc. Without /proc only the group itself is known: `-pgid`, which `running` asks the
 * kernel about as a whole.
 */
function familyOf(pgid: number): { members: number[]; strays: number[] } {
  const table = processTable();
  if (!table) return { members: [-pgid], strays: [] };
  const children = new Map<number, ProcessEntry[]>();
  for (const entry of table) {
    const siblings = children.get(entry.ppid);
    if (siblings) siblings.push(entry);
    else children.set(entry.ppid, [entry]);
  }
  const strays: number[] = [];
  const queue = [pgid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift() as number) ?? []) {
      if (child.pgid !== pgid && !child.zombie) strays.push(child.pid);
      queue.push(child.pid);
    }
  }
  const members = table.filter((entry) => entry.pgid === pgid && !entry.zombie).map((entry) => entry.pid);
  return { members, strays };
}

interface ProcessEntry {
  pid: number;
  ppid: number;
  pgid: number;
  zombie: boolean;
}

/** Every process in /proc; undefined where there is no /proc. */
function processTable(): ProcessEntry[] | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const table: ProcessEntry[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields) table.push({ pid: Number(entry), ppid: Number(fields[1]), pgid: Number(fields[2]), zombie: fields[0] === 'Z' });
  }
  return table;
}

/** The fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, ... */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // the process ended while we looked, or there is no /proc
  }
}

/** Sends a signal (0: just look) to a pid, or to a group as `-pgid`; false when there is no such process. */
function signal(target: number, name: NodeJS.Signals | 0): boolean {
  try {
    process.kill(target, name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a process (or, as `-pgid`, any process of a group) still runs. A zombie has ended, even
 * when nobody reaps it: in a container whose init does not reap orphans it stays a zombie.
 */
function running(target: number): boolean {
  return signal(target, 0) && (target < 0 || statFields(target)?.[0] !== 'Z');
}
