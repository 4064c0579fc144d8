import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@signal/core';
import { describe, expect, it } from 'vitest';
import { natsConnectOptions, type NatsEnv } from '../src/mod.js';

const dir = mkdtempSync(join(tmpdir(), 'nats-options-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const base: NatsEnv = { NATS_URL: 'nats://a:4222, nats://b:4222' };

describe('natsConnectOptions', () => {
  it('passes no credentials and no TLS requirement when none are configured', () => {
    const options = natsConnectOptions(base, 'svc');
    expect(options).toMatchObject({ servers: ['nats://a:4222', 'nats://b:4222'], name: 'svc', maxReconnectAttempts: -1 });
    for (const key of ['user', 'pass', 'token', 'authenticator', 'tls'] as const) expect(options[key], key).toBeUndefined();
  });

  it('maps user and password, or a token', () => {
    expect(natsConnectOptions({ ...base, NATS_USER: 'u', NATS_PASSWORD: 'p' }, 'svc')).toMatchObject({ user: 'u', pass: 'p' });
    expect(natsConnectOptions({ ...base, NATS_TOKEN: 't' }, 'svc')).toMatchObject({ token: 't' });
  });

  it('requires TLS for tls:// URLs and for any TLS file, passing the files on', () => {
    expect(natsConnectOptions({ NATS_URL: 'tls://a:4222' }, 'svc').tls).toEqual({});
    const ca = file('ca.pem', 'ca');
    const cert = file('cert.pem', 'cert');
    const key = file('key.pem', 'key');
    expect(natsConnectOptions({ ...base, NATS_TLS_CA_FILE: ca, NATS_TLS_CERT_FILE: cert, NATS_TLS_KEY_FILE: key }, 'svc').tls).toEqual({
      caFile: ca,
      certFile: cert,
      keyFile: key,
    });
  });

  it('refuses a TLS file it cannot read, naming the variable', () => {
    const call = () => natsConnectOptions({ ...base, NATS_TLS_CA_FILE: join(dir, 'missing.pem') }, 'svc');
    expect(call).toThrow(ConfigError);
    expect(call).toThrow(/NATS_TLS_CA_FILE=.*missing\.pem: cannot read the file \(ENOENT\)/);
  });

  it('takes a creds file through an authenticator, and refuses a file that is not one', () => {
    const creds = file(
      'user.creds',
      '-----BEGIN NATS USER JWT-----\neyJ0eXAi.e30.sig\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\nSUAXXX\n------END USER NKEY SEED------\n',
    );
    expect(typeof natsConnectOptions({ ...base, NATS_CREDS_FILE: creds }, 'svc').authenticator).toBe('function');
    const notCreds = file('not.creds', 'user: x\n');
    expect(() => natsConnectOptions({ ...base, NATS_CREDS_FILE: notCreds }, 'svc')).toThrow(/NATS_CREDS_FILE=.*not\.creds: not a NATS creds file/);
  });
});
