import { z } from 'zod';

/** Channel names are any well-formed string of 1 to 256 characters. */
export const channelNameSchema = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must not be empty' })
  .max(256, { error: 'must be at most 256 characters' })
  .refine((v) => v.isWellFormed(), { error: 'must be well-formed Unicode (no lone surrogates)' });

export const eventNameSchema = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must not be empty' })
  .max(256, { error: 'must be at most 256 characters' });
