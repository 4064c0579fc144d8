import { z } from 'zod';

/**
 * Capabilities: what a user token allows on channels and whom it may send to
 * (docs/authorization.md). The same schemas check a capability when emit-api mints a token
 * and again when a gateway verifies one, since a token signed elsewhere with the secret is
 * still input nobody checked.
 */
export const OPERATIONS = ['subscribe', 'publish', 'presence'] as const;
export type Operation = (typeof OPERATIONS)[number];

/** The most rules a capability, a send list or an apps-file pattern list may hold. */
export const MAX_PATTERNS = 64;
/** As long as the longest channel name, so any channel can be granted by its exact name. */
export const MAX_PATTERN_LENGTH = 256;
/**
 * Capability and send rule together, as JSON. Tokens travel in the connect URL, and uWS
 * refuses request heads over 4 KiB; 2 KiB leaves room for the rest of the token and URL.
 */
export const MAX_CAPABILITY_JSON = 2048;

/**
 * A channel name, or a prefix followed by `*`, which matches every name starting with the
 * prefix (`*` alone matches every channel). A `*` anywhere else is an ordinary character.
 */
export const channelPatternSchema = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must not be empty' })
  .max(MAX_PATTERN_LENGTH, { error: `must be at most ${MAX_PATTERN_LENGTH} characters` })
  .refine((v) => v.isWellFormed(), { error: 'must be well-formed Unicode (no lone surrogates)' });

/** Whether a channel (or identity) name matches a pattern; compared code point by code point, no case folding or normalization. */
export function matchesPattern(pattern: string, name: string): boolean {
  return pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
}

export interface CapabilityRule {
  readonly pattern: string;
  readonly operations: readonly Operation[];
}
/** Every rule whose pattern matches a channel adds its operations; nothing else is allowed. */
export type Capability = readonly CapabilityRule[];

/** `any` user, `none`, or the users whose identity matches one of the patterns. */
export type SendRule = 'any' | 'none' | readonly string[];

export const operationsSchema = z
  .array(z.enum(OPERATIONS, { error: `must be one of ${OPERATIONS.join(', ')}` }), { error: 'must be an array of operations' })
  .max(OPERATIONS.length, { error: `must list at most ${OPERATIONS.length} operations` });

/**
 * The entries of a JSON object, read as own properties so a key like `__proto__` stays a
 * plain key; zod's record would assign it onto the result and change its prototype.
 */
export function objectEntriesSchema<V extends z.ZodType>(
  key: z.ZodType<string>,
  value: V,
  what: string,
): z.ZodType<[string, z.output<V>][], unknown> {
  const entries = z.array(z.tuple([key, value])).max(MAX_PATTERNS, { error: `must have at most ${MAX_PATTERNS} entries` });
  return z
    .custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
      error: `must be an object of ${what}`,
    })
    .transform((v) => Object.entries(v))
    .pipe(entries as z.ZodType<[string, z.output<V>][], [string, unknown][]>);
}

/** Ably's form: `{ "<channel or pattern>": ["subscribe", "publish", "presence"] }`. */
export const capabilitySchema = objectEntriesSchema(channelPatternSchema, operationsSchema, 'channel patterns to operations').transform(
  (entries): Capability => entries.map(([pattern, operations]) => ({ pattern, operations: [...new Set(operations)] })),
);

export const sendRuleSchema = z.union(
  [
    z.enum(['any', 'none']),
    z.array(channelPatternSchema).max(MAX_PATTERNS, { error: `must have at most ${MAX_PATTERNS} identity patterns` }),
  ],
  { error: "must be 'any', 'none' or an array of identity patterns" },
);

/** The claims form of a capability, for signing: an object built without `__proto__` surprises. */
export function capabilityClaim(capability: Capability): Record<string, Operation[]> {
  return Object.fromEntries(capability.map((rule) => [rule.pattern, [...rule.operations]]));
}

/** The operations the rules of a capability grant on one channel. */
export function grantedOperations(capability: Capability, channel: string): Set<Operation> {
  const granted = new Set<Operation>();
  for (const rule of capability) if (matchesPattern(rule.pattern, channel)) for (const op of rule.operations) granted.add(op);
  return granted;
}
