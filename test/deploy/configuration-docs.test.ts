import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { emitEnvSchema } from '../../services/emit-api/src/config/emit-config.js';
import { gatewayEnvSchema } from '../../services/gateway/src/config/gateway-config.js';
import { webhooksEnvSchema } from '../../services/webhooks/src/config/webhooks-config.js';

const doc = readFileSync(fileURLToPath(new URL('../../docs/configuration.md', import.meta.url)), 'utf8');

/** Rows of the variables table under `## <service>`: name -> default column. */
function documented(service: string): Map<string, string> {
  const section = doc.split(/^## /m).find((s) => s.startsWith(`${service}\n`));
  if (!section) throw new Error(`docs/configuration.md has no "## ${service}" section`);
  const rows = [...section.matchAll(/^\| `([A-Z_]+)` \| ([^|]+) \|/gm)];
  return new Map(rows.map((m) => [m[1]!, m[2]!.trim()]));
}

describe('docs/configuration.md', () => {
  it.each([
    ['gateway', gatewayEnvSchema],
    ['emit-api', emitEnvSchema],
    ['webhooks', webhooksEnvSchema],
  ] as const)('lists exactly the variables the %s reads, with their defaults', (service, schema) => {
    const rows = documented(service);
    expect([...rows.keys()].sort()).toEqual(Object.keys(schema.shape).sort());
    for (const [name, shown] of rows) {
      const field = schema.shape[name as keyof typeof schema.shape] as { safeParse(v: unknown): { success: boolean; data?: unknown } };
      const unset = field.safeParse(undefined);
      const expected = !unset.success ? 'required' : unset.data === undefined ? /^(unset|random)$/ : `\`${String(unset.data)}\``;
      if (expected instanceof RegExp) expect(shown, name).toMatch(expected);
      else expect(shown, name).toBe(expected);
    }
  });
});
