import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { signatures } from '../../services/webhooks/src/deliver/signature.js';

/** The verification snippets of docs/webhooks.md, run as a receiver would, on what the dispatcher signs. */
const doc = readFileSync(fileURLToPath(new URL('../../docs/webhooks.md', import.meta.url)), 'utf8');
const block = (language: string) => {
  const match = new RegExp('```' + language + '\\n([\\s\\S]*?)```').exec(doc.slice(doc.indexOf('### Signature')));
  if (!match) throw new Error(`docs/webhooks.md has no ${language} block under "Signature"`);
  return match[1]!;
};
const dir = mkdtempSync(join(tmpdir(), 'signal-webhook-snippets-'));
const NEW = 'the-new-secret-0123456789abcdefghijkl';
const OLD = 'the-old-secret-0123456789abcdefghijkl';
const body = JSON.stringify({ events: [{ id: 'u1-1', type: 'user_online', time: 1, app: 'acme', env: 'live', user: 'zoë' }] });

interface Case {
  name: string;
  secret: string;
  timestamp: number;
  header: string;
  body: string;
  valid: boolean;
}

function cases(): Case[] {
  const now = Math.floor(Date.now() / 1000);
  const rotating = signatures([OLD, NEW], now, body);
  return [
    { name: 'signed with the secret', secret: NEW, timestamp: now, header: signatures([NEW], now, body), body, valid: true },
    { name: 'during a rotation, with the new secret', secret: NEW, timestamp: now, header: rotating, body, valid: true },
    { name: 'during a rotation, with the old secret', secret: OLD, timestamp: now, header: rotating, body, valid: true },
    { name: 'another secret', secret: 'a-receiver-secret-that-is-not-listed-0000', timestamp: now, header: rotating, body, valid: false },
    { name: 'a body changed in transit', secret: NEW, timestamp: now, header: rotating, body: body.replace('zoë', 'eve'), valid: false },
    { name: 'a timestamp changed to replay it', secret: NEW, timestamp: now + 1, header: rotating, body, valid: false },
    { name: 'a request older than 5 minutes', secret: NEW, timestamp: now - 301, header: signatures([NEW], now - 301, body), body, valid: false },
  ];
}

describe('the signature verification snippets of docs/webhooks.md', () => {
  it('Node: accepts what the dispatcher signs with a secret it holds, refuses everything else', async () => {
    const file = join(dir, 'verify.mjs');
    writeFileSync(file, block('js'));
    const { verifySignalWebhook } = (await import(file)) as { verifySignalWebhook: (s: string, t: string, h: string, b: string) => boolean };
    for (const c of cases()) expect(verifySignalWebhook(c.secret, String(c.timestamp), c.header, c.body), c.name).toBe(c.valid);
  });

  it('Python: the same', () => {
    const file = join(dir, 'verify.py');
    writeFileSync(
      file,
      `${block('python')}\nimport json, sys\nfor c in json.load(sys.stdin):\n    print(json.dumps(verify_signal_webhook(c["secret"], str(c["timestamp"]), c["header"], c["body"].encode())))\n`,
    );
    const all = cases();
    const out = execFileSync('python3', [file], { input: JSON.stringify(all), encoding: 'utf8' }).trim().split('\n');
    expect(out.map((line, i) => `${all[i]!.name}: ${line}`)).toEqual(all.map((c) => `${c.name}: ${String(c.valid)}`));
  });
});
