import { InvalidArgumentError } from 'commander';

/** An integer option value within bounds, refused as a usage error otherwise. */
export function intArg(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
    }
    return n;
  };
}
