import { createHash, createPublicKey, verify, type KeyObject, type JsonWebKey } from 'node:crypto';

/**
 * Public keys of an identity provider, for asymmetric tokens (docs/authorization.md#asymmetric-tokens):
 * RS256, ES256 and EdDSA, verified synchronously with node:crypto, like HS256 tokens, because
 * gateways verify inside uWebSockets.js's upgrade callback.
 */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

export interface PublicKey {
  /** undefined: a key without id, tried only for tokens without `kid`. */
  readonly kid: string | undefined;
  readonly alg: AsymmetricAlgorithm;
  readonly key: KeyObject;
  /** SHA-256 of the key's SPKI encoding, computed once: what a connection remembers of the key that verified it. */
  readonly fingerprint: string;
}

/** What each algorithm needs of a key: the key type, and for ES256 the curve; RSA keys of at least 2048 bits. */
function checkKeyFits(alg: AsymmetricAlgorithm, key: KeyObject): string | undefined {
  const details = key.asymmetricKeyDetails ?? {};
  switch (alg) {
    case 'RS256':
      if (key.asymmetricKeyType !== 'rsa') return `an RS256 key must be an RSA key, not ${key.asymmetricKeyType}`;
      if ((details.modulusLength ?? 0) < 2048) return `an RS256 key must have at least 2048 bits, not ${details.modulusLength}`;
      return undefined;
    case 'ES256':
      if (key.asymmetricKeyType !== 'ec' || details.namedCurve !== 'prime256v1') return 'an ES256 key must be an EC key on P-256';
      return undefined;
    case 'EdDSA':
      if (key.asymmetricKeyType !== 'ed25519' && key.asymmetricKeyType !== 'ed448') return 'an EdDSA key must be an Ed25519 or Ed448 key';
      return undefined;
  }
}

/** A public key from PEM text or a JWK; throws with what is wrong (a private key is refused). */
export function publicKeyFrom(alg: AsymmetricAlgorithm, kid: string | undefined, source: { pem: string } | { jwk: Record<string, unknown> }): PublicKey {
  let key: KeyObject;
  try {
    if ('pem' in source) {
      // createPublicKey would derive the public key from a private one; a private key has no place here.
      if (/PRIVATE KEY-----/.test(source.pem)) throw new Error('it is a private key; give the public key only');
      key = createPublicKey({ key: source.pem, format: 'pem' });
    } else {
      // A JWK with private parts would make createPublicKey derive the public key; refuse it instead.
      if ('d' in source.jwk) throw new Error('it is a private key; give the public key only');
      key = createPublicKey({ key: source.jwk as JsonWebKey, format: 'jwk' });
    }
  } catch (error) {
    throw new Error(`is not a usable public key: ${(error as Error).message.slice(0, 200)}`);
  }
  if (key.type !== 'public') throw new Error('is not a public key');
  const misfit = checkKeyFits(alg, key);
  if (misfit !== undefined) throw new Error(misfit);
  return { kid, alg, key, fingerprint: createHash('sha256').update(key.export({ format: 'der', type: 'spki' })).digest('hex') };
}

/** Verifies a JWS signature over `signingInput` with the key, synchronously; false for any malformed signature. */
export function verifyAsymmetric(key: PublicKey, signingInput: string, signature: Buffer): boolean {
  try {
    switch (key.alg) {
      case 'RS256':
        return verify('sha256', Buffer.from(signingInput), key.key, signature);
      case 'ES256':
        // JWS carries ECDSA signatures as r || s (64 bytes for P-256), not DER.
        return signature.length === 64 && verify('sha256', Buffer.from(signingInput), { key: key.key, dsaEncoding: 'ieee-p1363' }, signature);
      case 'EdDSA':
        return verify(null, Buffer.from(signingInput), key.key, signature);
    }
  } catch {
    return false;
  }
}
