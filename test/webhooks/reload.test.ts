import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passes } from '../support/poll.js';
import { Receiver, SECRET, churn, expectedChurn, memberEvents, startWebhookStack, type WebhookStack } from './support.js';

describe('webhook endpoints follow the apps file when it is reloaded', () => {
  let first: Receiver;
  let second: Receiver;
  let stack: WebhookStack;
  beforeAll(async () => {
    first = await Receiver.start();
    second = await Receiver.start();
    stack = await startWebhookStack([{ url: first.url, events: ['member_added', 'member_removed'] }]);
  });
  afterAll(async () => {
    await stack?.stop();
    await first?.stop();
    await second?.stop();
  });

  it('an endpoint added gets the events from then on; one removed gets no more', async () => {
    await churn(stack, 'gus', 'before', 1);
    await passes(() => expect(memberEvents(first, 'before')).toEqual(expectedChurn(1)));
    // Replace the first endpoint by the second, as an operator edits the file on disk.
    stack.apps[0]!.environments.test!.webhooks = [{ url: second.url, secrets: [SECRET], events: ['member_added', 'member_removed'] }];
    writeFileSync(stack.appsFile, JSON.stringify({ apps: stack.apps }));
    await stack.webhooks[0]!.waitForLine((l) => l.includes('"msg":"webhook endpoint removed"'), 10_000);
    // The new endpoint's consumers exist once its `active` line (the second one) is logged.
    await passes(() => expect(stack.webhooks[0]!.lines().filter((l) => l.includes('"msg":"webhook endpoint active"'))).toHaveLength(2));
    await churn(stack, 'gus', 'after', 2);
    await passes(() => expect(memberEvents(second, 'after')).toEqual(expectedChurn(2)));
    expect(memberEvents(second, 'before')).toEqual([]);
    expect(memberEvents(first, 'after')).toEqual([]);
  });

  it('an apps file with a bad webhooks entry is refused and the endpoints stay', async () => {
    const broken = structuredClone(stack.apps);
    broken[0]!.environments.test!.webhooks = [{ url: second.url, secrets: ['short'], events: ['member_added'] }];
    writeFileSync(stack.appsFile, JSON.stringify({ apps: broken }));
    await stack.webhooks[0]!.waitForLine((l) => l.includes('"msg":"apps file refused; the previous one stays in force"') && l.includes('secrets.0'), 10_000);
    await churn(stack, 'gus', 'still', 1);
    await passes(() => expect(memberEvents(second, 'still')).toEqual(expectedChurn(1)));
  });
});
