import { webhookEndpointId, type AppRegistry, type Environment, type WebhookConfig, type WebhookEventType } from '@signal/core';

/** One endpoint of one environment, as the apps file says now. */
export interface Endpoint {
  readonly app: string;
  readonly env: Environment;
  /** The first 16 hex digits of the URL's SHA-256: names its consumers and dead letters, without the URL. */
  readonly id: string;
  readonly url: string;
  readonly events: ReadonlySet<WebhookEventType>;
  readonly secrets: readonly string[];
}

/** Every endpoint of every environment, by `<app>.<env>.<id>`. */
export function endpointsOf(registry: AppRegistry): Map<string, Endpoint> {
  const out = new Map<string, Endpoint>();
  for (const { scope, webhooks } of registry.webhooks()) {
    for (const hook of webhooks) {
      const endpoint = endpointOf(scope.app, scope.env, hook);
      out.set(endpointKey(endpoint), endpoint);
    }
  }
  return out;
}

function endpointKey(endpoint: Pick<Endpoint, 'app' | 'env' | 'id'>): string {
  return `${endpoint.app}.${endpoint.env}.${endpoint.id}`;
}

function endpointOf(app: string, env: Environment, hook: WebhookConfig): Endpoint {
  return { app, env, id: webhookEndpointId(hook.url), url: hook.url, events: new Set(hook.events), secrets: hook.secrets };
}
