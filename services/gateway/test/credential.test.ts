import { AppRegistry, generateApp, parseAppsFile, type AppsFile, type TokenKeyRef } from '@signal/core';
import { describe, expect, it } from 'vitest';
import { removedCredential, type Credential } from '../src/auth/credential.js';
import { permissionsOf, type Permissions } from '../src/auth/permissions.js';

/** Which open connections a reloaded apps file leaves standing (docs/authorization.md#reloading-the-apps-file). */
const S1 = 'first-secret-'.padEnd(40, '1');
const S2 = 'second-secret-'.padEnd(40, '2');

const app = generateApp('one');
const test = app.environments.test!;
const [P1, P2] = [test.publishableKeys[0]!, `pubk_test_${'Second'.padEnd(32, 'k')}`];

function registry(change: (env: NonNullable<AppsFile['apps'][number]['environments']['test']>) => void): AppRegistry {
  const file = structuredClone({ apps: [app] });
  const env = file.apps[0]!.environments.test!;
  env.publishableKeys = [P1, P2];
  delete env.tokenSecret;
  env.tokenSecrets = [
    { kid: 'k1', secret: S1 },
    { kid: 'k2', secret: S2 },
  ];
  change(env);
  return new AppRegistry(parseAppsFile(file));
}

const before = registry(() => {});
const scope = { app: 'one', env: 'test' as const };
const ref = (kid: string): TokenKeyRef => {
  const key = before.byPublishableKey(P1)!.tokenKeys.find((k) => k.kid === kid)!;
  return { kid: key.kid, fingerprint: key.fingerprint };
};
const open: Permissions = permissionsOf({ anonymous: false, publishGranted: true, capability: undefined, send: undefined }, before.authorizationOf(scope));
const session = (credential: Credential, permissions = open) => ({ scope, credential, permissions });

describe('removedCredential', () => {
  const user = session({ publishableKeys: [P1], tokenKey: ref('k1') });
  const anonymous = session({ publishableKeys: [P2], tokenKey: undefined });

  it('keeps connections whose keys are all still there', () => {
    expect(removedCredential(before, user)).toBeUndefined();
    expect(removedCredential(registry((env) => env.tokenSecrets!.push({ kid: 'k3', secret: S1 })), user)).toBeUndefined();
    expect(removedCredential(before, anonymous)).toBeUndefined();
  });

  it('names the token secret that was removed, or whose value changed', () => {
    expect(removedCredential(registry((env) => env.tokenSecrets!.shift()), user)).toBe("the token secret kid 'k1' that verified its user token was removed or changed");
    expect(removedCredential(registry((env) => (env.tokenSecrets![0]!.secret = S2)), user)).toMatch(/kid 'k1'/);
  });

  it('names a removed publishable key, or one moved to another environment', () => {
    expect(removedCredential(registry((env) => env.publishableKeys.pop()), anonymous)).toBe('its publishable key (pubk_test_…) was removed from the apps file');
    const moved = structuredClone({ apps: [app] });
    moved.apps[0]!.id = 'other';
    expect(removedCredential(new AppRegistry(parseAppsFile(moved)), session({ publishableKeys: [P1], tokenKey: undefined }))).toMatch(/was removed/);
  });

  it("closes a provider token's connection only when the provider leaves its environment", () => {
    const withProvider = (issuer: string) =>
      registry((env) => ((env as Record<string, unknown>).identityProvider = { issuer, jwksUrl: 'https://idp.example/jwks.json' }));
    const viaProvider = session({ publishableKeys: [], tokenKey: undefined, provider: 'https://idp.example/' });
    expect(removedCredential(withProvider('https://idp.example/'), viaProvider)).toBeUndefined();
    expect(removedCredential(withProvider('https://other.example/'), viaProvider)).toBe('its identity provider was removed from the apps file');
  });

  it('counts the secrets of unexpired channel grants, not of expired ones', () => {
    const grant = (kid: string, expiresAt: number) => ({
      ...open,
      channelGrants: new Map([['room', { channel: 'room', operations: ['subscribe' as const], expiresAt, key: ref(kid) }]]),
    });
    const withoutK2 = registry((env) => env.tokenSecrets!.pop());
    const future = Date.now() / 1000 + 60;
    expect(removedCredential(withoutK2, session({ publishableKeys: [P1], tokenKey: ref('k1') }, grant('k2', future)))).toBe(
      "the token secret kid 'k2' that verified its channel token for 'room' was removed or changed",
    );
    expect(removedCredential(withoutK2, session({ publishableKeys: [P1], tokenKey: ref('k1') }, grant('k2', Date.now() / 1000 - 1)))).toBeUndefined();
  });
});
