import { SignalError, channelNameSchema } from '@signal/core';

/** The `:channel` of a route's path, validated like every channel name. */
export function channelParam(params: Record<string, string>): string {
  const channel = channelNameSchema.safeParse(params.channel);
  if (!channel.success) {
    throw new SignalError('bad_request', `channel: ${channel.error.issues[0]?.message ?? 'invalid'}`, { field: 'channel' });
  }
  return channel.data;
}
