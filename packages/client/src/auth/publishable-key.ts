import { SignalClientError } from '../errors/signal-client-error.js';
import type { Credentials, Proof } from './credentials.js';

/**
 * An anonymous, receive-only connection: a publishable key alone, no user. It can join
 * channels and receive their messages; publishing, sending and presence are refused by the
 * gateway with `forbidden`.
 */
export class PublishableKey implements Credentials {
  readonly refreshable = false;
  readonly refusedHint = 'the gateway does not know this publishable key; check it and its environment (pubk_test_… or pubk_live_…)';
  private readonly key: string;

  constructor(key: unknown) {
    if (typeof key !== 'string' || !/^pubk_(test|live)_\S+$/.test(key)) {
      throw new SignalClientError('invalid_options', 'publishableKey must be a publishable key such as pubk_test_…; secret keys (seck_) belong on your backend only');
    }
    this.key = key;
  }

  proof(): Promise<Proof> {
    return Promise.resolve({ param: 'key', value: this.key });
  }
}
