import type { z } from 'zod';
import { SignalError, type ErrorCode } from './signal-error.js';

/** Dotted path of the first failing field, e.g. `signals.0.to.channel`. */
export function issuePath(issue: z.core.$ZodIssue): string {
  return issue.path.map(String).join('.');
}

/** Turns a zod failure into a SignalError naming the first bad field and why. */
export function fromZodError(error: z.ZodError, code: ErrorCode = 'bad_request', prefix = ''): SignalError {
  const issue = error.issues[0];
  if (!issue) return new SignalError(code, `${prefix}invalid input`);
  const path = issuePath(issue);
  const where = path === '' ? 'input' : `'${path}'`;
  return new SignalError(code, `${prefix}${where}: ${issue.message}`, {
    field: path,
    data: error.issues.map((i) => ({ field: issuePath(i), message: i.message })),
  });
}
