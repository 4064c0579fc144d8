import { generateApp, mintUserToken, AppRegistry, parseAppsFile } from '@signal/core';
import { describe, expect, it } from 'vitest';
import { scrubSecrets } from '../src/mod.js';

const file = { apps: [generateApp('one')] };
const env = file.apps[0]!.environments.test!;
const scope = new AppRegistry(parseAppsFile(file)).byPublishableKey(env.publishableKeys[0]!)!;

describe('scrubSecrets', () => {
  it('removes user tokens, keys, query credentials, authorization values and URL passwords', async () => {
    const { token } = await mintUserToken(scope, { identity: 'alice', ttlSeconds: 60 });
    const secret = env.secretKeys[0]!.key!;
    const publishable = env.publishableKeys[0]!;
    const line = JSON.stringify({
      msg: `refused /v1/connect?token=${token}&key=${publishable}`,
      header: `Bearer ${secret}`,
      basic: `Basic ${Buffer.from(`${secret}:`).toString('base64')}`,
      url: 'nats://signal:hunter2hunter2@nats-1:4222',
      other: 'path?jwt=abc.def&x=1 and ?secret=s3cr3t',
      bare: `key ${secret} and token ${token}`,
    });
    const scrubbed = scrubSecrets(line);
    for (const leaked of [token, secret, publishable, 'hunter2hunter2', 'abc.def', 's3cr3t', secret.slice(10)]) {
      expect(scrubbed).not.toContain(leaked);
    }
    expect(JSON.parse(scrubbed)).toMatchObject({ header: 'Bearer [redacted]', url: 'nats://signal:[redacted]@nats-1:4222' });
    expect(scrubbed).toContain('seck_test_[redacted]');
  });

  it('leaves ordinary log lines alone', () => {
    const line = '{"level":30,"route":"ab12-3","app":"acme","env":"test","code":1001,"msg":"connection closed","url":"nats://nats-1:4222"}';
    expect(scrubSecrets(line)).toBe(line);
  });
});
