// The admin console: nodes, channels with their occupancy and members, and forms to emit, mint a token,
// revoke and disconnect, all through emit-api with the secret key the operator enters.
import type { NodeView } from '@signal/presence';
import { appendBounded, byId, clock, el } from './dom.js';
import { EmitApi } from './emit-api.js';

/** Per tab only: gone when the tab closes, never in a URL, never in localStorage. */
const KEY_STORAGE = 'signal.console.secretKey';
const REFRESH_MS = 5000;

interface ChannelView {
  channel: string;
  connections: number;
  participants: number;
}
interface ParticipantView {
  address: string;
  joinedAt: number;
  state?: unknown;
}

const loginForm = byId('login-form', HTMLFormElement);
const keyInput = byId('secret-key', HTMLInputElement);
const consoleSection = byId('console', HTMLElement);
const logoutButton = byId('logout', HTMLButtonElement);
const nodesBody = byId('nodes-body', HTMLTableSectionElement);
const nodesStatus = byId('nodes-status', HTMLParagraphElement);
const channelsBody = byId('channels-body', HTMLTableSectionElement);
const channelsStatus = byId('channels-status', HTMLParagraphElement);
const membersTitle = byId('members-title', HTMLHeadingElement);
const membersBody = byId('members-body', HTMLTableSectionElement);
const results = byId('results', HTMLOListElement);

let api: EmitApi | undefined;
let selectedChannel: string | undefined;
let timer: ReturnType<typeof setInterval> | undefined;

function report(what: string, outcome: unknown, ok: boolean): void {
  const text = typeof outcome === 'string' ? outcome : JSON.stringify(outcome);
  appendBounded(results, el('li', { 'data-ok': String(ok) }, el('time', {}, clock(Date.now())), ' ', el('strong', {}, what), ' ', el('code', {}, text)), 50);
}

function cells(...values: string[]): HTMLTableRowElement {
  return el('tr', {}, ...values.map((v) => el('td', {}, v)));
}

async function refreshNodes(): Promise<void> {
  try {
    const { nodes } = await api!.get<{ nodes: NodeView[] }>('/v1/nodes');
    nodesBody.replaceChildren(
      ...nodes.map((n) =>
        cells(n.node, n.instance, n.startedAt === undefined ? '—' : new Date(n.startedAt).toLocaleString(), n.connections === undefined ? '—' : String(n.connections), `${(n.ageMs / 1000).toFixed(1)} s`, n.sweptBy ? `swept by ${n.sweptBy}` : n.alive ? 'alive' : 'late'),
      ),
    );
    nodesStatus.textContent = `${nodes.filter((n) => n.alive).length} alive, ${nodes.length} records; updated ${clock(Date.now())}`;
  } catch (error) {
    nodesStatus.textContent = (error as Error).message;
  }
}

async function refreshChannels(): Promise<void> {
  try {
    const { channels, truncated } = await api!.get<{ channels: ChannelView[]; truncated: boolean }>('/v1/channels');
    channelsBody.replaceChildren(
      ...channels.map((c) => {
        const button = el('button', { type: 'button', 'data-channel': c.channel }, c.channel);
        button.addEventListener('click', () => {
          selectedChannel = c.channel;
          void refreshMembers();
        });
        return el('tr', {}, el('td', {}, button), el('td', {}, String(c.connections)), el('td', {}, String(c.participants)));
      }),
    );
    channelsStatus.textContent = `${channels.length} channels${truncated ? ' (the busiest; more exist)' : ''}; updated ${clock(Date.now())}`;
  } catch (error) {
    channelsStatus.textContent = (error as Error).message;
  }
}

async function refreshMembers(): Promise<void> {
  if (selectedChannel === undefined) return;
  const channel = selectedChannel;
  try {
    const { participants } = await api!.get<{ participants: ParticipantView[] }>(`/v1/channels/${encodeURIComponent(channel)}/participants`);
    membersTitle.textContent = `Members of ${channel} (${participants.length})`;
    membersBody.replaceChildren(...participants.map((p) => cells(p.address, new Date(p.joinedAt).toLocaleString(), p.state === undefined ? '' : JSON.stringify(p.state))));
  } catch (error) {
    membersTitle.textContent = `Members of ${channel}: ${(error as Error).message}`;
  }
}

function refreshAll(): void {
  void refreshNodes();
  void refreshChannels();
  void refreshMembers();
}

/** The form's named fields, trimmed, without the empty ones. */
function fields(form: HTMLFormElement): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of new FormData(form)) {
    if (typeof value === 'string' && value.trim() !== '') out[name] = value.trim();
  }
  return out;
}

/** Wires a form to a POST: `body` turns its fields into the request (throwing names what to fix). */
function postForm(id: string, path: string, body: (f: Record<string, string>) => unknown): void {
  const form = byId(id, HTMLFormElement);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    let request: unknown;
    try {
      request = body(fields(form));
    } catch (error) {
      report(path, (error as Error).message, false);
      return;
    }
    api!.post(path, request).then(
      (answer) => {
        report(path, answer, true);
        refreshAll();
      },
      (error: Error) => report(path, error.message, false),
    );
  });
}

function parseMessage(text: string | undefined): unknown {
  if (text === undefined) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error('message must be JSON, e.g. {"text":"hello"}');
  }
}

postForm('emit-form', '/v1/signals', (f) => {
  const kind = f.kind ?? 'channel';
  const to = kind === 'broadcast' ? { broadcast: true } : { [kind]: f.to ?? '' };
  return { to, ...(f.event === undefined ? {} : { event: f.event }), message: parseMessage(f.message) };
});
postForm('token-form', '/v1/tokens', (f) => ({ identity: f.identity, ...(f.device === undefined ? {} : { device: f.device }), ...(f.ttl === undefined ? {} : { ttl: Number(f.ttl) }) }));
postForm('revoke-form', '/v1/revocations', (f) => (f.kind === 'jti' ? { jti: f.value } : { user: f.value }));
postForm('disconnect-form', '/v1/disconnect', (f) => ({ [f.kind ?? 'user']: f.value }));

function enter(key: string): void {
  api = new EmitApi(key);
  loginForm.hidden = true;
  consoleSection.hidden = false;
  refreshAll();
  timer = setInterval(refreshAll, REFRESH_MS);
}

loginForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const key = keyInput.value.trim();
  keyInput.value = '';
  // Checked once before it is kept: a wrong key should say so here, not in every panel.
  new EmitApi(key).get('/v1/channels').then(
    () => {
      sessionStorage.setItem(KEY_STORAGE, key);
      enter(key);
    },
    (error: Error) => (byId('login-error', HTMLParagraphElement).textContent = error.message),
  );
});

logoutButton.addEventListener('click', () => {
  sessionStorage.removeItem(KEY_STORAGE);
  clearInterval(timer);
  api = undefined;
  selectedChannel = undefined;
  consoleSection.hidden = true;
  loginForm.hidden = false;
});

byId('refresh', HTMLButtonElement).addEventListener('click', refreshAll);

const kept = sessionStorage.getItem(KEY_STORAGE);
if (kept !== null) enter(kept);
