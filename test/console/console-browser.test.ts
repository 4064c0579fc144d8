import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConsoleStack, type ConsoleStack } from './support.js';

/**
 * The console's pages in real headless Chromium against a real stack of two gateways: two tabs
 * chat, a gateway dies under them, and the admin console shows nodes, a channel and its members.
 * Screenshots are saved under a temporary directory (printed), each taken once the elements it
 * is about are on the page, and those elements are asserted at that moment.
 */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TIMEOUT = 20_000;
const shots = mkdtempSync(join(tmpdir(), 'signal-console-shots-'));

let ctx: ConsoleStack;
let browser: Browser;
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the console test needs headless Chromium at ${CHROMIUM}; install it with: apt-get update && apt-get install -y chromium`);
  }
  ctx = await startConsoleStack({ gateways: 2 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  console.log(`console screenshots: ${shots}`);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await ctx?.stop();
});

async function open(path: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (error) => pageErrors.push(`${path}: ${error.message}`));
  await page.goto(`${ctx.url}/console/${path}`);
  return page;
}

/** A tab of the demo, joined as `name`, once it says it is connected. */
async function joinDemo(name: string): Promise<Page> {
  const page = await open('demo.html');
  await page.getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Join' }).click();
  await expect.poll(() => page.locator('#connection-state').textContent(), { timeout: TIMEOUT }).toBe('connected');
  return page;
}

/** Saves a screenshot once the locators are visible, and checks each is visible at that moment. */
async function screenshot(page: Page, name: string, mustShow: Locator[]): Promise<void> {
  for (const locator of mustShow) await locator.first().waitFor({ state: 'visible' });
  const path = join(shots, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  for (const locator of mustShow) expect(await locator.first().isVisible(), `${name}: ${locator.toString()}`).toBe(true);
  expect(statSync(path).size).toBeGreaterThan(10_000);
}

const participant = (page: Page, identity: string) => page.locator(`#participants li[data-address^="${identity}/web/"]:not([data-me])`);
const message = (page: Page, kind: string, text: string) => page.locator(`#messages li[data-kind="${kind}"]`, { hasText: text });
const logEntry = (page: Page, kind: string, text = '') => page.locator(`#events li[data-kind="${kind}"]`, { hasText: text });

describe('the console in a browser', () => {
  let alice: Page;
  let bob: Page;

  it('two tabs chat: presence with states, room messages and a direct message', async () => {
    alice = await joinDemo('alice');
    bob = await joinDemo('bob');
    await participant(alice, 'demo-bob').waitFor();
    await participant(bob, 'demo-alice').waitFor();

    await bob.getByLabel('My status').selectOption('busy');
    await expect.poll(() => participant(alice, 'demo-bob').locator('.status').textContent(), { timeout: TIMEOUT }).toBe('busy');

    await alice.getByRole('textbox', { name: 'Message' }).fill('hello bob');
    await alice.getByRole('button', { name: 'Send' }).click();
    await message(bob, 'channel', 'hello bob').waitFor();
    expect(await message(bob, 'channel', 'hello bob').textContent()).toContain('demo-alice/web/');

    const aliceAddress = (await participant(bob, 'demo-alice').getAttribute('data-address'))!;
    await bob.getByLabel('To').selectOption(aliceAddress);
    await bob.getByRole('textbox', { name: 'Message' }).fill('just for you');
    await bob.getByRole('button', { name: 'Send' }).click();
    await message(alice, 'direct', 'just for you').waitFor();

    await screenshot(alice, 'demo-alice-chatting', [
      alice.locator('#connection-state', { hasText: 'connected' }),
      participant(alice, 'demo-bob').filter({ hasText: 'busy' }),
      message(alice, 'mine', 'hello bob'),
      message(alice, 'direct', 'just for you'),
    ]);
    await screenshot(bob, 'demo-bob-chatting', [participant(bob, 'demo-alice'), message(bob, 'channel', 'hello bob'), message(bob, 'mine', 'just for you')]);
  });

  it('recovers when the gateway under both tabs is killed: reconnects to the other, rejoins, resyncs, chats on', async () => {
    const first = ctx.stack.gatewayUrl(0);
    const second = ctx.stack.gatewayUrl(1);
    // DEMO_GATEWAYS lists gateway 0 first, so both tabs are on it.
    for (const page of [alice, bob]) expect(await logEntry(page, 'connecting', first).count()).toBeGreaterThan(0);
    const bobBefore = (await participant(alice, 'demo-bob').getAttribute('data-address'))!;

    await ctx.stack.gateways[0]!.kill();
    for (const page of [alice, bob]) {
      await logEntry(page, 'disconnected').waitFor();
      await logEntry(page, 'connecting', second).waitFor();
      await logEntry(page, 'reconnected', 'rejoined demo-lobby').waitFor();
      await expect.poll(() => page.locator('#connection-state').textContent(), { timeout: TIMEOUT }).toBe('connected');
    }
    // Resync: bob's old connection leaves alice's list (swept with the dead gateway, or dropped
    // by the resync), his new one is there, with the state he had.
    await expect.poll(() => participant(alice, 'demo-bob').getAttribute('data-address'), { timeout: TIMEOUT }).not.toBe(bobBefore);
    await expect.poll(() => participant(alice, 'demo-bob').count(), { timeout: TIMEOUT }).toBe(1);
    expect(await participant(alice, 'demo-bob').locator('.status').textContent()).toBe('busy');

    await bob.getByLabel('To').selectOption('');
    await bob.getByRole('textbox', { name: 'Message' }).fill('back again');
    await bob.getByRole('button', { name: 'Send' }).click();
    await message(alice, 'channel', 'back again').waitFor();

    await screenshot(alice, 'demo-alice-recovered', [
      alice.locator('#connection-state', { hasText: 'connected' }),
      logEntry(alice, 'disconnected'),
      logEntry(alice, 'reconnected', 'rejoined demo-lobby'),
      participant(alice, 'demo-bob'),
      message(alice, 'channel', 'back again'),
    ]);
  });

  it('the admin console shows the live node and the channel with its members, and its forms act on them', async () => {
    const admin = await open('admin.html');
    await admin.getByLabel('Secret key').fill('seck_test_wrongwrongwrongwrong');
    await admin.getByRole('button', { name: 'Open' }).click();
    await admin.locator('#login-error', { hasText: '401' }).waitFor();

    await admin.getByLabel('Secret key').fill(ctx.adminKey);
    await admin.getByRole('button', { name: 'Open' }).click();
    await admin.locator('#console').waitFor();
    expect(admin.url()).not.toContain(ctx.adminKey);
    expect(await admin.evaluate(() => (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }).sessionStorage.getItem('signal.console.secretKey'))).toBe(ctx.adminKey);

    const liveNode = ctx.stack.gateways[1]!.ready.node as string;
    const nodeRow = admin.locator('#nodes-body tr', { hasText: liveNode }).filter({ hasText: 'alive' });
    const channelButton = admin.locator('#channels-body button[data-channel="demo-lobby"]');
    await expect
      .poll(
        async () => {
          await admin.getByRole('button', { name: 'Refresh' }).click();
          const cells = admin.locator('#channels-body tr', { hasText: 'demo-lobby' }).locator('td');
          // Connections and participants: both tabs joined the room with presence.
          return (await nodeRow.count()) === 1 && (await cells.nth(1).textContent()) === '2' && (await cells.nth(2).textContent()) === '2';
        },
        { timeout: TIMEOUT, interval: 500 },
      )
      .toBe(true);
    expect(await nodeRow.locator('td').nth(3).textContent()).toMatch(/^[1-9]\d*$/);
    await channelButton.click();
    await admin.locator('#members-title', { hasText: 'Members of demo-lobby (2)' }).waitFor();
    await screenshot(admin, 'admin-node-and-channel', [
      nodeRow,
      admin.locator('#channels-body tr', { hasText: 'demo-lobby' }),
      admin.locator('#members-body tr', { hasText: 'demo-alice/web/' }),
      admin.locator('#members-body tr', { hasText: 'demo-bob/web/' }).filter({ hasText: '"busy"' }),
    ]);

    // Emit to the room: both tabs show the backend's signal.
    await admin.locator('#emit-to').fill('demo-lobby');
    await admin.locator('#emit-message').fill('{"text":"from the console"}');
    await admin.getByRole('button', { name: 'Emit' }).click();
    await admin.locator('#results li[data-ok="true"]', { hasText: '/v1/signals' }).waitFor();
    await message(alice, 'backend', 'from the console').waitFor();

    await admin.locator('#token-identity').fill('minted-in-console');
    await admin.getByRole('button', { name: 'Mint' }).click();
    await admin.locator('#results li[data-ok="true"]', { hasText: '"sub":"minted-in-console"' }).waitFor();

    // Disconnect bob: his tab shows the close (4004) and comes back by itself.
    await admin.locator('#disconnect-value').fill('demo-bob');
    await admin.getByRole('button', { name: 'Disconnect' }).click();
    await admin.locator('#results li[data-ok="true"]', { hasText: '/v1/disconnect' }).waitFor();
    await logEntry(bob, 'disconnected', '4004').waitFor();
    await expect.poll(() => logEntry(bob, 'reconnected').count(), { timeout: TIMEOUT }).toBe(2);

    // Revoke every token of alice: her tab is closed with 4003 and comes back with a fresh demo token.
    await admin.locator('#revoke-value').fill('demo-alice');
    await admin.getByRole('button', { name: 'Revoke' }).click();
    await admin.locator('#results li[data-ok="true"]', { hasText: '/v1/revocations' }).waitFor();
    await logEntry(alice, 'disconnected', '4003').waitFor();
    await expect.poll(() => logEntry(alice, 'reconnected').count(), { timeout: TIMEOUT }).toBe(2);

    await admin.locator('#emit-message').fill('not json');
    await admin.getByRole('button', { name: 'Emit' }).click();
    await admin.locator('#results li[data-ok="false"]', { hasText: 'message must be JSON' }).waitFor();
    await screenshot(admin, 'admin-forms', [admin.locator('#results li[data-ok="true"]', { hasText: '/v1/revocations' }), admin.locator('#results li[data-ok="false"]')]);

    await admin.getByRole('button', { name: 'Forget the key' }).click();
    expect(await admin.evaluate(() => (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }).sessionStorage.getItem('signal.console.secretKey'))).toBeNull();
    await admin.getByLabel('Secret key').waitFor();
    expect(pageErrors).toEqual([]);
  });
});
