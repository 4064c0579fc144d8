import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNative, keysOf, mintToken, startStack, type Stack } from '../support/stack.js';
import { CLIENT_VERSIONS, connectStelace, postSignal } from '../support/stelace-client.js';

/**
 * Stelace sockets get only backend signals (emit API) unless their environment sets
 * `stelace.clientMessages`: here alpha's test environment opts in and its live environment
 * keeps the default. Non-delivery is proven by order, not by waiting: each client message is
 * known to have been handled by the socket's gateway before a backend signal that follows it
 * on the same path, so a client message that was delivered would arrive first.
 */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    gateways: 2,
    configureApps: (apps) => {
      apps[0]!.environments.test!.stelace = { clientMessages: true };
    },
  });
});
afterAll(async () => {
  await stack?.stop();
});

const SETTINGS = [
  ['live', 'by default', false],
  ['test', 'with stelace.clientMessages', true],
] as const;

describe.each(CLIENT_VERSIONS)('socket.io-client %s', (version) => {
  describe.each(SETTINGS)('in the %s environment (%s)', (env, _setting, optedIn) => {
    it(`${optedIn ? 'gets' : 'does not get'} a native client's send to its user and publish to its channel, and gets backend signals`, async () => {
      const carol = `usr_${version}${env}carol`;
      const shop = `${version}-${env}-shop`;
      const { publishableKey, secretKey } = keysOf(stack, 'alpha', env);
      const { client } = await connectStelace(
        stack,
        version,
        { publishableKey, authToken: await mintToken(stack, 'alpha', carol, undefined, env), channels: [shop] },
        { gateway: 1, env },
      );
      const sender = await connectNative(stack, { identity: `${version}-${env}-mallory`, device: 'web', gateway: 0, env });
      await sender.call('signal.join', { id: shop });
      // Sees the channel on the Stelace socket's gateway: once it has a message, so has the socket.
      const observer = await connectNative(stack, { identity: `${version}-${env}-observer`, device: 'web', gateway: 1, env });
      await observer.call('signal.join', { id: shop });

      // A confirmed send returns once the socket's gateway has handled it.
      expect(await sender.call('signal.send', { to: carol, event: 'orderPaid', message: { amount: 0 } })).toEqual({});
      await sender.call('signal.publish', { id: shop, event: 'orderPaid', message: { amount: 1 } });
      await observer.next((f) => f.method === 'signal.publish' && f.params?.event === 'orderPaid');
      expect((await postSignal(stack, secretKey, { destination: carol, event: 'orderPaid', message: { amount: 100 } })).status).toBe(200);
      expect((await postSignal(stack, secretKey, { destination: shop, event: 'orderPaid', message: { amount: 200 } })).status).toBe(200);

      await client.next('orderPaid', ([payload]) => (payload as { message: { amount: number } }).message.amount === 200);
      const fromClients = optedIn
        ? [
            [{ message: { amount: 0 }, event: 'orderPaid', env, from: sender.address }],
            [{ message: { amount: 1 }, event: 'orderPaid', env, from: sender.address, channel: shop }],
          ]
        : [];
      expect(client.events.filter((e) => e.name !== 'authentication').map((e) => e.args)).toEqual([
        ...fromClients,
        [{ message: { amount: 100 }, event: 'orderPaid', env }],
      ]);
      client.close();
      sender.close();
      observer.close();
    });
  });
});
