/** Turns a zod issue into the key path and problem a user reads. */
import type { z } from 'zod';

export interface Problem {
  path: PropertyKey[];
  problem: string;
}

export function describeIssue(issue: z.core.$ZodIssue): Problem {
  switch (issue.code) {
    case 'unrecognized_keys': {
      const [first = ''] = issue.keys;
      const problem = issue.keys.length > 1 ? `unknown keys ${issue.keys.join(', ')}` : 'unknown key';
      return { path: [...issue.path, first], problem };
    }
    case 'invalid_type':
      return {
        path: issue.path,
        // zod leaves the input out of issues; its message says when nothing was there.
        problem: issue.message.endsWith('received undefined') ? 'missing required key' : `wrong type: expected ${issue.expected}`,
      };
    case 'invalid_key':
      return { path: issue.path, problem: issue.issues[0]?.message ?? issue.message };
    default:
      return { path: issue.path, problem: issue.message };
  }
}
