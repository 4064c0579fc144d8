#!/usr/bin/env node
// Generates the NATS passwords of the Compose stack into .env (docker compose reads it), once:
// variables already there are kept, so running it again changes nothing. To rotate, delete
// the lines and run it again, then `docker compose up -d` (docs/operations.md, "Securing NATS").
// Passwords never appear on the terminal.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const file = resolve(root, process.argv[2] ?? '.env');
const NAMES = ['SIGNAL_NATS_GATEWAY_PASSWORD', 'SIGNAL_NATS_EMIT_API_PASSWORD', 'SIGNAL_NATS_WEBHOOKS_PASSWORD', 'SIGNAL_NATS_ROUTE_PASSWORD'];

// nats-server reads a variable's value as a configuration value: a leading letter keeps it a
// string (a value such as 12e45 would be a number); hex keeps it one token and safe in a URL
// (the route password is part of the --routes URLs).
const password = () => `s${randomBytes(32).toString('hex')}`;

const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
const present = new Set([...text.matchAll(/^\s*([A-Z0-9_]+)=/gm)].map((m) => m[1]));
const missing = NAMES.filter((name) => !present.has(name));
if (missing.length === 0) {
  console.log(`${file} already has ${NAMES.join(', ')}; nothing changed`);
} else {
  const lines = missing.map((name) => `${name}=${password()}`).join('\n');
  writeFileSync(file, `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${lines}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  console.log(`wrote ${missing.join(', ')} to ${file}`);
}
