import { InvalidArgumentError } from 'commander';
import { kidSchema } from '@signal/core';

/** Checks a --kid value with the apps file's own rule (a usage error, before any file is touched). */
export function kidArg(value: string): string {
  const parsed = kidSchema.safeParse(value);
  if (!parsed.success) throw new InvalidArgumentError(`kid ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
  return value;
}
