import { randomBytes } from 'node:crypto';
import type { AppsFile } from './apps-file.js';

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Uniform over the alphabet: bytes past the largest multiple of its size are skipped, not folded. */
function randomKeyBody(length = 32): string {
  const limit = 256 - (256 % alphabet.length);
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(length)) {
      if (b < limit && out.length < length) out += alphabet[b % alphabet.length];
    }
  }
  return out;
}

/** A fresh app with test and live environments and new random keys (keys in clear, for a bootstrap file). */
export function generateApp(id: string, options: { broadcast?: boolean } = {}): AppsFile['apps'][number] {
  const environment = (env: 'test' | 'live') => ({
    publishableKeys: [`pubk_${env}_${randomKeyBody()}`],
    secretKeys: [{ key: `seck_${env}_${randomKeyBody()}`, permissions: options.broadcast ? (['broadcast'] as const) : [] }],
    tokenSecret: randomKeyBody(48),
  });
  return { id, environments: { test: environment('test'), live: environment('live') } } as AppsFile['apps'][number];
}
