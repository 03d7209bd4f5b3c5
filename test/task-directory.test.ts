/** The bounds on the tasks nexus keeps (tasks/task-directory.ts). */
import { describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/server';
import { LocalTask } from '../src/mcp/tasks/local-task.js';
import { TaskDirectory } from '../src/mcp/tasks/task-directory.js';

const server = (taskId: string) => ({ kind: 'server', server: 's', taskId }) as const;
const HOUR = 3_600_000;

describe('TaskDirectory', () => {
  it("refuses a caller's task past its share, or past the instance's, rather than push out another caller's", () => {
    const tasks = new TaskDirectory('0123456789ab', 4, 2);
    const mine = tasks.add('victim', server('v'), HOUR);
    tasks.add('attacker', server('a1'), HOUR);
    tasks.add('attacker', server('a2'), HOUR);
    expect(() => tasks.add('attacker', server('a3'), HOUR)).toThrow(/as many tasks as it may/);
    expect(() => tasks.add('other', server('o'), HOUR)).not.toThrow();
    expect(() => tasks.add('late', server('l'), HOUR)).toThrow(/as many tasks as it may/);
    expect(tasks.get(mine, 'victim')).toEqual(server('v'));
  });

  it('bounds callers it cannot tell apart by the instance only, not by one shared allowance', () => {
    const tasks = new TaskDirectory('0123456789ab', 4, 2);
    for (let i = 0; i < 3; i++) tasks.add(undefined, server(`anonymous${i}`), HOUR);
    expect(tasks.hasRoom(undefined)).toBe(true);
    tasks.add(undefined, server('last'), HOUR);
    expect(tasks.hasRoom(undefined)).toBe(false);
  });

  it('lists no tasks of a caller it cannot tell from others, whose id is its only key', () => {
    const tasks = new TaskDirectory('0123456789ab');
    const id = tasks.add(undefined, server('x'), HOUR);
    expect(tasks.of(undefined)).toEqual([]);
    expect(tasks.get(id, undefined)).toEqual(server('x'));
    expect(tasks.get(id, 'someone')).toBeUndefined();
  });

  it('keeps the results of its own tasks within a budget, forgetting the oldest finished first', async () => {
    const tasks = new TaskDirectory('0123456789ab', 10, 10, 1_000);
    const big: CallToolResult = { content: [{ type: 'text', text: 'x'.repeat(600) }] };
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const task = new LocalTask(() => Promise.resolve(big), HOUR);
      ids.push(tasks.add('me', { kind: 'local', task }, HOUR));
      task.start();
      await task.result();
      await Promise.resolve();
    }
    expect(ids.map((id) => tasks.get(id, 'me') !== undefined)).toEqual([false, false, true]);
  });
});
