import { ConfigError, type Apps } from '@signal/core';
import type { EmitConfig } from '../config/emit-config.js';
import { consoleRoute, loadConsoleFiles } from '../http/console-files.js';
import { KeyRateLimit } from '../http/key-rate-limit.js';
import type { BodyLimits } from '../http/read-body.js';
import type { Router } from '../http/router.js';
import { demoTokensRoute } from './demo-tokens.js';

/** The web console (CONSOLE_DIR) and its demo token endpoint (DEMO_TOKENS_KEY), where configured (docs/console.md). */
export function addConsole(router: Router, config: EmitConfig, registry: Apps, body: BodyLimits): void {
  if (config.CONSOLE_DIR !== undefined) {
    const files = loadConsoleFiles(config.CONSOLE_DIR);
    router.on('GET', '/console', consoleRoute(files)).on('GET', '/console/:file', consoleRoute(files));
  }
  if (config.DEMO_TOKENS_KEY === undefined) return;
  if (registry.byPublishableKey(config.DEMO_TOKENS_KEY) === undefined) {
    throw new ConfigError('DEMO_TOKENS_KEY is not a publishable key of the apps file; set it to one (pnpm start sets the demo app\'s)');
  }
  const gateways = config.DEMO_GATEWAYS ?? (config.GATEWAY_PUBLIC_URL === undefined ? [] : [config.GATEWAY_PUBLIC_URL]);
  if (gateways.length === 0) throw new ConfigError('DEMO_TOKENS_KEY needs DEMO_GATEWAYS or GATEWAY_PUBLIC_URL: the gateways the demo page connects to');
  const perSecond = config.DEMO_TOKENS_PER_SECOND;
  const rateLimit = new KeyRateLimit({ perSecond, burst: perSecond * 10 }, undefined, {
    limit: 'demo_tokens_per_second',
    subject: () => 'the demo token endpoint',
    perSecondVar: 'DEMO_TOKENS_PER_SECOND',
    burstVar: 'ten times DEMO_TOKENS_PER_SECOND',
    hint: '',
  });
  router.on('POST', '/v1/demo-tokens', demoTokensRoute(registry, { body, publishableKey: config.DEMO_TOKENS_KEY, gateways, gatewayPublicUrl: config.GATEWAY_PUBLIC_URL, rateLimit }));
}
