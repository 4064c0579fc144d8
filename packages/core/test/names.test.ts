import { describe, expect, it } from 'vitest';
import {
  AppRegistry,
  TokenError,
  channelNameSchema,
  deviceSchema,
  generateApp,
  identitySchema,
  mintUserToken,
  parseAddress,
  parseAppsFile,
  userSubject,
  verifyUserToken,
} from '../src/mod.js';

const LONE = ['vic\ud800', '\udfff', 'a\udc00b', 'x\ud83d'];

describe('names are well-formed Unicode', () => {
  it('refuses lone surrogates in identities, devices, channels and every address part', () => {
    for (const name of LONE) {
      expect(identitySchema.safeParse(name).success, name).toBe(false);
      expect(deviceSchema.safeParse(name).success, name).toBe(false);
      expect(channelNameSchema.safeParse(name).success, name).toBe(false);
      expect(() => parseAddress(name)).toThrow(/invalid identity: .*well-formed Unicode/);
      expect(() => parseAddress(`vic/${name}`)).toThrow(/invalid device: .*well-formed Unicode/);
    }
  });

  it('accepts astral characters, which are well-formed pairs', () => {
    expect(identitySchema.safeParse('vic😀').success).toBe(true);
    expect(parseAddress('vic😀/pho𝄞ne')).toEqual({ kind: 'device', identity: 'vic😀', device: 'pho𝄞ne' });
  });

  it('keeps names and subjects one-to-one: vic\\uFFFD is its own user', () => {
    const scope = { app: 'a', env: 'test' as const };
    expect(userSubject(scope, 'vic\uFFFD')).not.toBe(userSubject(scope, 'vic'));
    expect(identitySchema.safeParse('vic\uFFFD').success).toBe(true);
  });

  it('refuses a token whose sub holds a lone surrogate', async () => {
    const file = { apps: [generateApp('one')] };
    const registry = new AppRegistry(parseAppsFile(file));
    const scope = registry.byPublishableKey(file.apps[0]!.environments.test!.publishableKeys[0]!)!;
    for (const [identity, device] of [['vic\ud800', undefined], ['vic', 'ph\udc00']] as const) {
      const { token } = await mintUserToken(scope, { identity, device, ttlSeconds: 60 });
      expect(() => verifyUserToken(registry, token)).toThrow(TokenError);
      expect(() => verifyUserToken(registry, token)).toThrow(/well-formed Unicode/);
    }
  });
});
