import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emit, keysOf, startStack, type Stack } from '../support/stack.js';
import { client, closeClients, next, record, startGateway, waitFor, type Gateway } from './support.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const CLIENT_ENTRY = fileURLToPath(new URL('../../packages/client/dist/mod.js', import.meta.url));

let stack: Stack;
let bundle: string;
let server: Server;
let origin: string;
let browser: Browser;
let doomed: Gateway;

/**
 * The page an app would serve: the SDK as bundled for browsers, and a token endpoint standing
 * in for the app's backend (it mints through the emit API with the secret key, server side).
 */
async function servePage(): Promise<void> {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://page');
    if (url.pathname === '/signal-client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    } else if (url.pathname === '/token') {
      const body = { identity: url.searchParams.get('identity'), device: url.searchParams.get('device') };
      emit(stack, '/v1/tokens', keysOf(stack, 'alpha').secretKey, body).then(
        (r) => res.writeHead(r.status === 201 ? 200 : 500, { 'content-type': 'text/plain' }).end(String(r.body?.token ?? JSON.stringify(r.body))),
        (e: Error) => res.writeHead(500).end(e.message),
      );
    } else {
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end(`<!doctype html><meta charset="utf-8"><title>signal</title><script type="module">
import { Signal, SignalClientError } from '/signal-client.js';
window.Signal = Signal;
window.SignalClientError = SignalClientError;
window.sdkLoaded = true;
</script>`);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the browser test needs headless Chromium at ${CHROMIUM}; install it with: apt-get update && apt-get install -y chromium`);
  }
  const result = await build({ entryPoints: [CLIENT_ENTRY], bundle: true, format: 'esm', platform: 'browser', write: false, minify: true });
  bundle = result.outputFiles[0]!.text;
  stack = await startStack({ gateways: 1 });
  doomed = await startGateway(stack);
  await servePage();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}, 90_000);

afterAll(async () => {
  closeClients();
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
  await doomed?.process.stop('SIGKILL');
  await stack?.stop();
});

interface PageLog {
  events: Array<{ type: string; [key: string]: unknown }>;
}

/** Opens the page and starts a client in it that logs everything it sees into `window.log`. */
async function openClient(identity: string, urls: string[]): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
  await page.goto(origin);
  await page.waitForFunction(() => (globalThis as unknown as { sdkLoaded?: boolean }).sdkLoaded === true);
  await page.evaluate(
    ({ identity, urls }) => {
      const w = globalThis as unknown as Record<string, unknown> & { log: PageLog };
      const Signal = w.Signal as typeof import('@signal/client').Signal;
      w.log = { events: [] };
      const push = (type: string, data: Record<string, unknown> = {}) => w.log.events.push({ type, ...data });
      const signal = new Signal(() => fetch(`/token?identity=${identity}&device=browser`).then((r) => r.text()), { url: urls });
      for (const type of ['connecting', 'connected', 'disconnected', 'reconnecting'] as const) {
        signal.on(type, (info: object) => push(type, JSON.parse(JSON.stringify(info)) as Record<string, unknown>));
      }
      signal.on('message', (m) => push('direct', { message: m }));
      signal.on('error', (e) => push('error', { code: e.code, message: e.message }));
      const room = signal.join('browser-room', { presence: true, state: { where: 'browser' } });
      room.on('message', (m) => push('channel', { message: m }));
      room.on('participant', (p, op) => push('participant', { address: p.address, op }));
      void room.joined.then((list) => push('joined', { participants: list.map((p) => p.address) }));
      w.signal = signal;
      w.room = room;
    },
    { identity, urls },
  );
  return page;
}

function events(page: Page, type: string): Promise<Array<Record<string, unknown>>> {
  return page.evaluate((t) => (globalThis as unknown as { log: PageLog }).log.events.filter((e) => e.type === t), type);
}

async function waitInPage(page: Page, what: string, type: string, count = 1): Promise<Array<Record<string, unknown>>> {
  await page
    .waitForFunction(({ t, n }) => (globalThis as unknown as { log: PageLog }).log.events.filter((e) => e.type === t).length >= n, { t: type, n: count }, { timeout: 15_000 })
    .catch(async () => {
      throw new Error(`timed out waiting for ${what}; page saw ${JSON.stringify(await page.evaluate(() => (globalThis as unknown as { log: PageLog }).log.events))}`);
    });
  return events(page, type);
}

describe('in a browser', () => {
  it('bundles without Node-only code', () => {
    expect(bundle).not.toMatch(/["']node:/);
    expect(bundle).not.toMatch(/\brequire\(/);
    expect(bundle).toContain('WebSocket');
  });

  it('connects with the platform WebSocket, joins, and exchanges channel and direct messages with a Node client', async () => {
    const page = await openClient('carol', [stack.gatewayUrl(0)]);
    const [connected] = await waitInPage(page, 'connected', 'connected');
    const carol = (connected as { address: string }).address;
    expect(carol).toMatch(/^carol\/browser\//);
    await waitInPage(page, 'joined', 'joined');

    const dave = client(stack, 'dave', 'node', { url: doomed.url });
    const room = dave.join('browser-room', { presence: true });
    await room.joined;
    const daveGot = record(room, 'message');

    room.publish({ text: 'hello browser' });
    const [fromNode] = await waitInPage(page, 'a channel message', 'channel');
    expect(fromNode!.message).toEqual({ text: 'hello browser', id: 'browser-room', from: dave.address });

    await page.evaluate(() => (globalThis as unknown as { room: { publish(m: object): void } }).room.publish({ text: 'hello node' }));
    await waitFor('the browser publish at the Node client', () => daveGot.length === 1);
    expect(daveGot[0]![0]).toEqual({ text: 'hello node', id: 'browser-room', from: carol });

    dave.send({ to: carol, text: 'direct to the tab' });
    const [direct] = await waitInPage(page, 'a direct message', 'direct');
    expect(direct!.message).toEqual({ text: 'direct to the tab', from: dave.address });

    // Server errors reach page code as typed errors.
    const error = await page.evaluate(async () => {
      const w = globalThis as unknown as { signal: { send(m: object, o: object): Promise<void> }; SignalClientError: new () => Error };
      try {
        await w.signal.send({ to: 'nobody-home', text: 'x' }, { ack: true });
        return 'sent';
      } catch (e) {
        return { typed: e instanceof w.SignalClientError, code: (e as { code: string }).code };
      }
    });
    expect(error).toEqual({ typed: true, code: 'not_found' });
    await page.close();
  });

  it('fails over when its gateway is killed, rejoins, and keeps receiving', async () => {
    const page = await openClient('erin', [doomed.url, stack.gatewayUrl(0)]);
    const [first] = await waitInPage(page, 'connected', 'connected');
    await waitInPage(page, 'joined', 'joined');
    const frank = client(stack, 'frank', 'node', { gateway: 0 });
    const room = frank.join('browser-room', { presence: true });
    await room.joined;

    await doomed.process.kill();
    const [, again] = await waitInPage(page, 'the reconnection', 'connected', 2);
    expect(again).toMatchObject({ reconnected: true });
    expect(again!.address).not.toBe(first!.address);
    expect((await events(page, 'disconnected'))[0]).toMatchObject({ willReconnect: true });

    const got = next(room, 'message');
    await page.evaluate(() => (globalThis as unknown as { room: { publish(m: object): void } }).room.publish({ text: 'back' }));
    expect((await got)[0]).toMatchObject({ text: 'back', from: again!.address });
    room.publish({ text: 'to the rejoined tab' });
    const channel = await waitInPage(page, 'a message on the rejoined channel', 'channel');
    expect(channel.at(-1)!.message).toMatchObject({ text: 'to the rejoined tab', from: frank.address });
    await page.close();
  });
});
