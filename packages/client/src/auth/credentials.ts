/** What one connection attempt presents: `?token=<value>` or `?key=<value>`. */
export interface Proof {
  readonly param: 'token' | 'key';
  readonly value: string;
}

/** A user token (fixed or from a provider) or a publishable key: what the link connects with. */
export interface Credentials {
  /** True when asking again can give different credentials (a token provider). */
  readonly refreshable: boolean;
  /** What to tell the app when the gateway refuses these and nothing new can be had. */
  readonly refusedHint: string;
  /** Credentials for the next attempt; `afterRefusal` when the gateway refused (or may have refused) the last ones. */
  proof(afterRefusal: boolean): Promise<Proof>;
}
