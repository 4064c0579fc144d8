import { expect } from 'vitest';
import { RpcClient } from './rpc-client.js';
import { emit, keysOf, mintToken, type Stack } from './stack.js';

export interface CalmChannel {
  /** A member that abuse tests send their bad input through. */
  sender: RpcClient;
  /** A member that only listens. */
  bystander: RpcClient;
  /** Proves the gateway still routes between the two, and from the emit API, after whatever a test did. */
  stillServing(): Promise<void>;
}

/** Two members of channel `calm` on the stack's first gateway. */
export async function calmChannel(stack: Stack): Promise<CalmChannel> {
  const member = async (identity: string, device: string) => {
    const client = await RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?token=${await mintToken(stack, 'alpha', identity, device)}`);
    await client.call('signal.join', { id: 'calm' });
    return client;
  };
  const bystander = await member('by', 'stander');
  const sender = await member('bad', 'actor');
  return {
    sender,
    bystander,
    async stillServing() {
      const marker = `alive-${Math.random()}`;
      await sender.call('signal.publish', { id: 'calm', marker });
      await bystander.next((f) => f.params?.marker === marker);
      const { status } = await emit(stack, '/v1/signals', keysOf(stack, 'alpha').secretKey, { to: { channel: 'calm' }, event: 'e', message: marker });
      expect(status).toBe(202);
      await bystander.next((f) => (f.params?.message as unknown) === marker);
    },
  };
}
