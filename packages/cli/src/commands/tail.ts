import { Command, Option } from 'commander';
import WebSocket from 'ws';
import { Signal, type Participant, type Payload, type SignalClientError } from '@signal/client';
import { CliError, EXIT, usageError } from '../exit-codes.js';
import { emitApiTarget, withEmitApiOptions, type EmitApiOptions } from '../http/emit-api-options.js';
import { readTextFile } from '../input/read-text-file.js';
import { printJson, printLines } from '../output/print.js';
import { mintToken } from './token.js';

export const DEFAULT_GATEWAY_URL = 'ws://127.0.0.1:8080';

interface TailOptions extends EmitApiOptions {
  channel?: string;
  presence?: boolean;
  user?: boolean;
  identity: string;
  device: string;
  tokenFile?: string;
  gateway: string;
  json?: boolean;
}

/** How long the first connection may take before tail gives up (it retries meanwhile). */
const CONNECT_TIMEOUT_MS = 10_000;

const OPS = { 1: 'join', 0: 'rejoin', [-1]: 'leave' } as const;

/** One line per event: JSON lines for scripts, else `[channel] who: what`. */
function printer(json: boolean) {
  return {
    message(channel: string | undefined, m: Payload & { from?: string; id?: string }): void {
      const { from, id: _channel, ...data } = m;
      if (json) return printJson({ type: 'message', ...(channel === undefined ? {} : { channel }), ...(from === undefined ? {} : { from }), data });
      printLines(`${channel === undefined ? '(direct)' : `[${channel}]`} ${from ?? '(backend)'}: ${JSON.stringify(data)}`);
    },
    participant(channel: string, type: 'join' | 'rejoin' | 'leave' | 'state', p: Participant): void {
      const state = p.state === undefined ? {} : { state: p.state };
      if (json) return printJson({ type, channel, address: p.address, identity: p.identity, device: p.device, ...state });
      const mark = { join: '+', rejoin: '=', leave: '-', state: '~' }[type];
      printLines(`[${channel}] ${mark} ${p.address}${p.state === undefined || type === 'leave' ? '' : ` ${JSON.stringify(p.state)}`}`);
    },
  };
}

export function tailCommand(): Command {
  return withEmitApiOptions(
    new Command('tail')
      .description('connect to a gateway and print what arrives, one line each, until Ctrl-C')
      .option('--channel <channel>', 'join this channel and print its messages')
      .option('--presence', 'join it with presence: print joins, leaves and state changes (you appear in its presence too)')
      .option('--user', "print the direct messages and backend signals to the token's user")
      .option('--identity <identity>', 'the identity a minted token is for', 'signal-cli')
      .option('--device <device>', 'the device a minted token is for', 'tail')
      .option('--token-file <path>', 'connect with the user token in this file instead of minting one through emit-api')
      .addOption(new Option('--gateway <urls>', 'gateway base URL, or a comma-separated list to fail over through').env('SIGNAL_GATEWAY_URL').default(DEFAULT_GATEWAY_URL))
      .option('--json', 'one JSON object per line: {type:"message",channel?,from?,data} or {type:"join"|"rejoin"|"leave"|"state",channel,address,identity,device,state?}'),
  )
    .addHelpText(
      'after',
      `
Without --token-file a token is minted through emit-api (SIGNAL_SECRET_KEY or --secret-key-file),
and minted again whenever the connection needs a fresh one. Status ("listening …",
reconnects) goes to stderr, events to stdout.

Examples:
  $ signal tail --channel room-1 --presence
  $ signal tail --user --identity alice --json | jq .data
  $ signal tail --channel room-1 --token-file alice.jwt --gateway wss://signal.example.com
  $ signal tail --channel room-1 --gateway ws://10.0.0.1:8080,ws://10.0.0.2:8080   # fails over`,
    )
    .action(async (options: TailOptions) => {
      if (options.channel === undefined && options.user !== true) throw usageError('say what to print: --channel <channel> (with --presence for joins and leaves) and/or --user');
      if (options.presence === true && options.channel === undefined) throw usageError('--presence needs --channel');
      await tail(options);
    });
}

async function tail(options: TailOptions): Promise<void> {
  const credentials = options.tokenFile !== undefined ? readTextFile(options.tokenFile, '--token-file').trim() : await minter(options);
  const urls = options.gateway.split(',').map((u) => u.trim()).filter(Boolean);
  if (urls.length === 0) throw usageError('--gateway (SIGNAL_GATEWAY_URL) is empty');
  const signal = new Signal(credentials, { url: urls, WebSocket: WebSocket as never });
  const print = printer(options.json === true);
  let lastFailure: SignalClientError | undefined;
  let connected = false;
  signal.on('reconnecting', ({ error }) => {
    lastFailure = error;
    if (connected) process.stderr.write(`connection lost (${error.code}); reconnecting\n`);
  });
  signal.on('connected', ({ reconnected }) => {
    connected = true;
    if (reconnected) process.stderr.write('reconnected\n');
  });
  // Failures that are also a rejected `ready()` or `joined` are reported once, by those.
  signal.on('error', (error) => signal.state === 'connected' && process.stderr.write(`error: ${error.code}: ${error.message}\n`));
  try {
    await signal.ready({ timeoutMs: CONNECT_TIMEOUT_MS }).catch((error: SignalClientError) => {
      const why = lastFailure ?? error;
      throw new CliError(EXIT.failure, `cannot connect to the gateway at ${options.gateway}: ${why.code}: ${why.message}; check --gateway or SIGNAL_GATEWAY_URL`);
    });
    if (options.user === true) signal.on('message', (m) => print.message(undefined, m));
    if (options.channel !== undefined) {
      const channel = options.channel;
      const room = signal.join(channel, { presence: options.presence === true });
      let joined = false;
      // The first join's failure is reported once, as the exit message; later ones (a rejoin) here.
      room.on('error', (error) => joined && process.stderr.write(`error on ${channel}: ${error.code}: ${error.message}\n`));
      room.on('message', (m) => print.message(channel, m));
      room.on('participant', (p, op) => {
        print.participant(channel, OPS[op], p);
        if (op === 1) p.on('state', () => print.participant(channel, 'state', p));
      });
      await room.joined.catch((error: SignalClientError) => {
        throw new CliError(EXIT.failure, `cannot join ${channel}: ${error.code}: ${error.message}`);
      });
      joined = true;
    }
    const what = [options.channel === undefined ? '' : `channel ${options.channel}${options.presence ? ' with presence' : ''}`, options.user ? 'direct messages' : '']
      .filter(Boolean)
      .join(' and ');
    process.stderr.write(`listening to ${what} as ${signal.address ?? '?'} on ${options.gateway} (Ctrl-C to stop)\n`);
    await untilStopped(signal);
  } finally {
    signal.close();
  }
}

/**
 * A token provider minting through emit-api, so a long tail gets fresh tokens as they expire.
 * The first token is minted before connecting: a wrong key or URL then fails at once, with
 * emit-api's answer, instead of as a connection that keeps retrying.
 */
async function minter(options: TailOptions): Promise<() => Promise<string>> {
  const target = emitApiTarget(options);
  const mint = async () => (await mintToken(target, { identity: options.identity, device: options.device })).token;
  let first: string | undefined = await mint();
  return async () => {
    const token = first ?? (await mint());
    first = undefined;
    return token;
  };
}

/** Resolves on SIGINT or SIGTERM; rejects when the client gives up on the connection. */
function untilStopped(signal: Signal): Promise<void> {
  return new Promise((resolve, reject) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    signal.on('disconnected', ({ code, reason, willReconnect }) => {
      if (!willReconnect) reject(new CliError(EXIT.failure, `the gateway closed the connection (${code}${reason ? `: ${reason}` : ''})`));
    });
  });
}
