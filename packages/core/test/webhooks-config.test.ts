import { describe, expect, it } from 'vitest';
import { AppRegistry, ConfigError, generateApp, parseAppsFile } from '../src/mod.js';

/** The `webhooks` of an environment in the apps file (docs/webhooks.md#configuration). */
const base = generateApp('hooks');
const SECRET = 'a-webhook-secret-of-at-least-32-chars';
const hook = (extra: Record<string, unknown> = {}) => ({ url: 'https://backend.example.com/hooks', events: ['user_online'], secrets: [SECRET], ...extra });

function parse(webhooks: unknown) {
  return parseAppsFile({ apps: [{ ...base, environments: { test: { ...base.environments.test, webhooks } } }] });
}

function refusal(webhooks: unknown): string {
  try {
    parse(webhooks);
    return 'accepted';
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
}

describe('apps file: webhooks', () => {
  it('are listed per environment by the registry, with their events and secrets', () => {
    const registry = new AppRegistry(parse([hook({ events: ['member_added', 'member_removed'], secrets: [SECRET, `${SECRET}-new`] })]));
    expect(registry.webhooks()).toEqual([
      { scope: { app: 'hooks', env: 'test' }, webhooks: [{ url: 'https://backend.example.com/hooks', events: ['member_added', 'member_removed'], secrets: [SECRET, `${SECRET}-new`] }] },
    ]);
    expect(new AppRegistry(parseAppsFile({ apps: [base] })).webhooks()).toEqual([]);
  });

  it.each([
    ['a URL that is not http(s)', [hook({ url: 'ftp://backend.example.com/' })], "'apps.0.environments.test.webhooks.0.url': must be an http or https URL"],
    ['an unknown event', [hook({ events: ['user_joined'] })], "'apps.0.environments.test.webhooks.0.events.0': must be one of user_online, user_offline, channel_occupied, channel_vacated, member_added, member_removed, client_message"],
    ['no event', [hook({ events: [] })], "'apps.0.environments.test.webhooks.0.events': must list at least one event"],
    ['an event twice', [hook({ events: ['user_online', 'user_online'] })], "'apps.0.environments.test.webhooks.0.events': must not repeat an event"],
    ['a short secret', [hook({ secrets: ['short'] })], "'apps.0.environments.test.webhooks.0.secrets.0': must be at least 32 characters"],
    ['no secret', [hook({ secrets: [] })], "'apps.0.environments.test.webhooks.0.secrets': must list at least one secret"],
    ['five secrets', [hook({ secrets: Array.from({ length: 5 }, (_, i) => `${SECRET}${i}`) })], "'apps.0.environments.test.webhooks.0.secrets': must list at most 4 secrets"],
    ['nine endpoints', Array.from({ length: 9 }, (_, i) => hook({ url: `https://backend.example.com/${i}` })), "'apps.0.environments.test.webhooks': must list at most 8 endpoints"],
    ['one URL twice', [hook(), hook()], "'apps.0.environments.test.webhooks': must not repeat a url"],
    ['an unknown field', [hook({ retries: 3 })], "'apps.0.environments.test.webhooks.0'"],
  ])('refuse %s, naming the field', (_what, webhooks, message) => {
    expect(refusal(webhooks)).toContain(message);
  });

  const withNamespaces = (webhooks: unknown, namespaces: Record<string, unknown>) =>
    parseAppsFile({ apps: [{ ...base, environments: { test: { ...base.environments.test, webhooks, authorization: { namespaces } } } }] });

  it('client_message: channels whose most specific namespace says webhooks.clientMessages', () => {
    const registry = new AppRegistry(
      withNamespaces([hook({ events: ['client_message'] })], { 'chat-*': { webhooks: { clientMessages: true } }, 'chat-private': { publish: true } }),
    );
    const scope = { app: 'hooks', env: 'test' } as const;
    expect(registry.sendsClientMessages(scope, 'chat-1')).toBe(true);
    expect(registry.sendsClientMessages(scope, 'chat-private')).toBe(false);
    expect(registry.sendsClientMessages(scope, 'lobby')).toBe(false);
    expect(registry.sendsClientMessages({ app: 'hooks', env: 'live' }, 'chat-1')).toBe(false);
  });

  it('refuses a namespace sending client messages when no endpoint asks for client_message, and unknown options', () => {
    expect(() => withNamespaces([hook()], { 'chat-*': { webhooks: { clientMessages: true } } })).toThrow(
      "'apps.0.environments.test.webhooks': namespace 'chat-*' sends client messages to webhooks; list 'client_message' in the events of an endpoint",
    );
    expect(() => withNamespaces(undefined, { 'chat-*': { webhooks: { clientMessages: true } } })).toThrow(/list 'client_message'/);
    expect(() => withNamespaces([hook()], { 'chat-*': { webhooks: { messages: true } } })).toThrow(/namespaces/);
  });
});
