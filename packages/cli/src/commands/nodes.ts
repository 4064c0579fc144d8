import { Command } from 'commander';
import { z } from 'zod';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { parseEnv } from '@signal/core';
import { checkNatsEnv, connectNats, natsEnv } from '@signal/operations';
import { nodeRecordSchema, nodeViewOf, presenceNodeVars, presenceStoreVars, type NodeView } from '@signal/presence';
import { CliError, EXIT, usageError } from '../exit-codes.js';
import { printJson, printLines, printTable } from '../output/print.js';

/** The variables the gateways read, with the same names and checks, so one environment serves both. */
const nodesEnvSchema = z
  .object({
    ...natsEnv,
    PRESENCE_BUCKET: presenceStoreVars.PRESENCE_BUCKET,
    PRESENCE_NODE_TIMEOUT_MS: presenceNodeVars.PRESENCE_NODE_TIMEOUT_MS,
  })
  .superRefine(checkNatsEnv);

/** Most heartbeat records read: far more gateways than any deployment runs, so a polluted bucket cannot make this hang. */
const MAX_NODES = 10_000;

async function openNodesBucket(nc: NatsConnection, bucket: string, url: string): Promise<KV> {
  const name = `${bucket}_nodes`;
  try {
    const kv = await new Kvm(jetstream(nc)).open(name);
    await kv.status();
    return kv;
  } catch (error) {
    throw new CliError(
      EXIT.notFound,
      `cannot open the heartbeat bucket '${name}' on NATS at ${url} (${(error as Error).message}); has a gateway run there, with this PRESENCE_BUCKET?`,
    );
  }
}

async function readNodes(kv: KV, timeoutMs: number): Promise<NodeView[]> {
  const now = Date.now();
  const views: NodeView[] = [];
  for await (const key of await kv.keys()) {
    if (views.length >= MAX_NODES) break;
    const entry = await kv.get(key);
    if (entry === null || entry.operation !== 'PUT') continue;
    const record = nodeRecordSchema.safeParse(entry.json());
    if (!record.success) continue;
    views.push(nodeViewOf(record.data, now, timeoutMs));
  }
  return views.sort((a, b) => a.node.localeCompare(b.node));
}

export function nodesCommand(): Command {
  return new Command('nodes')
    .description('the gateways alive, from their presence heartbeats in NATS (JetStream KV <PRESENCE_BUCKET>_nodes)')
    .option('--all', 'also list records of gateways that stopped beating or were swept')
    .option('--json', 'print [{ node, instance, beatAt, startedAt?, connections?, ageMs, alive, sweptBy? }] (times in ms since the epoch)')
    .addHelpText(
      'after',
      `
NATS is reached as the services reach it: NATS_URL (default nats://127.0.0.1:4222), NATS_USER and
NATS_PASSWORD, NATS_TOKEN or NATS_CREDS_FILE, NATS_TLS_CA_FILE, NATS_TLS_CERT_FILE, NATS_TLS_KEY_FILE.
PRESENCE_BUCKET names the bucket (default signal_presence); a gateway whose last beat is older than
PRESENCE_NODE_TIMEOUT_MS (default 1000) is not alive. A gateway that stops cleanly removes its record.

Examples:
  $ signal nodes
  $ NATS_URL=nats://nats.internal:4222 NATS_CREDS_FILE=ops.creds signal nodes --json`,
    )
    .action(async (options: { all?: boolean; json?: boolean }) => {
      let env: z.infer<typeof nodesEnvSchema>;
      try {
        env = parseEnv(nodesEnvSchema);
      } catch (error) {
        throw usageError((error as Error).message);
      }
      let nc: NatsConnection;
      try {
        nc = await connectNats(env, 'signal-cli');
      } catch (error) {
        throw new CliError(EXIT.failure, `cannot connect to NATS at ${env.NATS_URL}: ${(error as Error).message}; set NATS_URL (and its credentials variables)`);
      }
      try {
        const kv = await openNodesBucket(nc, env.PRESENCE_BUCKET, env.NATS_URL);
        const nodes = (await readNodes(kv, env.PRESENCE_NODE_TIMEOUT_MS)).filter((n) => options.all || n.alive);
        if (options.json) return printJson(nodes);
        if (nodes.length === 0) return printLines(options.all ? 'no gateway records' : 'no gateway alive');
        printTable(
          ['NODE', 'INSTANCE', 'SINCE', 'CONNECTIONS', 'LAST BEAT', 'AGE', 'STATUS'],
          nodes.map((n) => [
            n.node,
            n.instance,
            n.startedAt === undefined ? '-' : new Date(n.startedAt).toISOString(),
            n.connections === undefined ? '-' : String(n.connections),
            new Date(n.beatAt).toISOString(),
            `${(n.ageMs / 1000).toFixed(1)}s`,
            n.sweptBy ? `swept by ${n.sweptBy}` : n.alive ? 'alive' : 'late',
          ]),
        );
      } finally {
        await nc.close();
      }
    });
}
