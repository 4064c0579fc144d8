import { z } from 'zod';
import { CliError, EXIT } from '../exit-codes.js';

/** emit-api's answers, checked so that a wrong --url (another server answering 200) fails clearly. */
export const mintedTokenSchema = z.object({ token: z.string(), sub: z.string(), expiresAt: z.number(), env: z.string(), jti: z.string() });
export const revocationAnswerSchema = z.object({
  revoked: z.enum(['token', 'user']),
  jti: z.string().optional(),
  user: z.string().optional(),
  before: z.number().optional(),
  expiresAt: z.number(),
  env: z.string(),
});
export const disconnectAnswerSchema = z.object({ disconnecting: z.record(z.string(), z.string()), env: z.string() });
export const signalsAnswerSchema = z.object({ accepted: z.number(), deliveries: z.number() });
export const participantsAnswerSchema = z.object({
  channel: z.string(),
  participants: z.array(
    z.object({ address: z.string(), identity: z.string(), device: z.string(), joinedAt: z.number(), state: z.unknown().optional() }),
  ),
});
export const occupancyAnswerSchema = z.object({ channel: z.string(), connections: z.number(), participants: z.number() });

export type MintedToken = z.infer<typeof mintedTokenSchema>;

export function expectAnswer<T>(schema: z.ZodType<T>, answer: unknown, what: string, url: string): T {
  const parsed = schema.safeParse(answer);
  if (!parsed.success) throw new CliError(EXIT.failure, `unexpected answer to ${what} from ${url}: is --url (SIGNAL_EMIT_URL) an emit-api?`);
  return parsed.data;
}
