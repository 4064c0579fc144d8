// The live demo: a chat room on the SDK, showing presence with states, messages, direct
// messages, and the connection's life (reconnects, rejoins and the presence resync after one).
import { Signal, SignalClientError, type Channel, type Participant, type ParticipantOp } from '@signal/client';
import { appendBounded, byId, clock, el } from './dom.js';

type Status = 'available' | 'busy' | 'away';
interface Mood {
  status: Status;
  [key: string]: unknown;
}
interface Chat {
  text: string;
  [key: string]: unknown;
}

const ROOM = 'demo-lobby';

const joinForm = byId('join-form', HTMLFormElement);
const nameInput = byId('name', HTMLInputElement);
const roomSection = byId('room', HTMLElement);
const connectionState = byId('connection-state', HTMLOutputElement);
const connectionDetail = byId('connection-detail', HTMLSpanElement);
const statusSelect = byId('my-status', HTMLSelectElement);
const participantList = byId('participants', HTMLUListElement);
const messages = byId('messages', HTMLOListElement);
const messageForm = byId('message-form', HTMLFormElement);
const messageInput = byId('message', HTMLInputElement);
const toSelect = byId('to', HTMLSelectElement);
const events = byId('events', HTMLOListElement);
const errorLine = byId('error', HTMLParagraphElement);

interface DemoToken {
  token: string;
  identity: string;
  gateways: string[];
}

/** A demo token from emit-api (POST /v1/demo-tokens), which mints them only on a dev stack. */
async function demoToken(name: string): Promise<DemoToken> {
  const res = await fetch('/v1/demo-tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
  const body = (await res.json().catch(() => ({}))) as Partial<DemoToken> & { message?: string };
  if (res.status === 404) throw new Error('this stack does not hand out demo tokens (DEMO_TOKENS_KEY is not set on emit-api; pnpm start sets it)');
  if (!res.ok || typeof body.token !== 'string') throw new Error(`no demo token: ${res.status} ${body.message ?? ''}`);
  return body as DemoToken;
}

function logEvent(text: string, kind: string): void {
  appendBounded(events, el('li', { 'data-kind': kind }, el('time', {}, clock(Date.now())), ' ', text));
}

function showState(state: string, detail = ''): void {
  connectionState.value = state;
  connectionState.dataset.state = state;
  connectionDetail.textContent = detail;
}

function showMessage(kind: 'channel' | 'direct' | 'mine' | 'backend', from: string, text: string): void {
  const label = kind === 'direct' ? `${from} (direct)` : from;
  appendBounded(messages, el('li', { 'data-kind': kind }, el('time', {}, clock(Date.now())), ' ', el('strong', {}, label), ': ', text));
}

/** What a message carries, as text: a chat message's text, else its JSON (a backend's signal). */
function textOf(message: Record<string, unknown>): string {
  if (typeof message.text === 'string') return message.text;
  const { from: _from, id: _id, ...rest } = message;
  return JSON.stringify(rest);
}

function renderParticipants(room: Channel<Chat, Mood>, me: string): void {
  const everyone = [...room.participants.values()].sort((a, b) => a.address.localeCompare(b.address));
  participantList.replaceChildren(
    el('li', { 'data-address': me, 'data-me': 'true' }, el('strong', {}, `${me} (you)`), ' ', el('span', { class: 'status' }, room.me.state?.status ?? 'available')),
    ...everyone.map((p) => el('li', { 'data-address': p.address }, p.address, ' ', el('span', { class: 'status' }, p.state?.status ?? '—'))),
  );
  const chosen = toSelect.value;
  toSelect.replaceChildren(el('option', { value: '' }, `everyone in ${ROOM}`), ...everyone.map((p) => el('option', { value: p.address }, p.address)));
  toSelect.value = everyone.some((p) => p.address === chosen) ? chosen : '';
}

const OPS: Record<ParticipantOp, string> = { 1: 'joined', 0: 'joined again', [-1]: 'left' };

function start(first: DemoToken, name: string): void {
  let pending: DemoToken | undefined = first;
  // The first token came with the gateway list; later ones are fetched when the SDK asks.
  const provider = async () => {
    const token = pending ?? (await demoToken(name));
    pending = undefined;
    return token.token;
  };
  const signal = new Signal<Chat, Mood>(provider, { url: first.gateways, reconnect: { initialDelayMs: 250, maxDelayMs: 5000 } });
  const room = signal.join(ROOM, { presence: true, state: { status: statusSelect.value as Status } });
  let me = first.identity;
  let away = false;

  signal.on('connecting', ({ attempt, url }) => {
    showState('connecting', `to ${url}`);
    logEvent(`connecting to ${url} (attempt ${attempt + 1})`, 'connecting');
  });
  signal.on('connected', ({ address, reconnected }) => {
    me = address;
    showState('connected', `as ${address}`);
    logEvent(reconnected ? `reconnected as ${address}; rejoined ${ROOM} and resynced: ${room.participants.size} here besides you` : `connected as ${address}`, reconnected ? 'reconnected' : 'connected');
    away = false;
    renderParticipants(room, me);
  });
  signal.on('disconnected', ({ code, reason, willReconnect }) => {
    away = willReconnect;
    showState(willReconnect ? 'reconnecting' : 'disconnected', `closed ${code}${reason ? ` ${reason}` : ''}`);
    logEvent(`connection lost (${code}${reason ? `, ${reason}` : ''})${willReconnect ? '; reconnecting' : ''}`, 'disconnected');
  });
  signal.on('reconnecting', ({ attempt, delayMs, error }) => {
    showState('reconnecting', `attempt ${attempt + 1} in ${delayMs} ms`);
    logEvent(`attempt failed (${error.code}); next in ${delayMs} ms`, 'reconnecting');
  });
  signal.on('error', (error) => {
    errorLine.textContent = error.message;
    logEvent(`error ${error.code}: ${error.message}`, 'error');
  });
  signal.on('message', (message) => showMessage(message.from === undefined ? 'backend' : 'direct', message.from ?? '(backend)', textOf(message)));

  room.on('message', (message) => showMessage(message.from === undefined ? 'backend' : 'channel', message.from ?? '(backend)', textOf(message)));
  room.on('participant', (participant: Participant<Mood>, op) => {
    // During a resync (after a reconnect) these are the differences from what the page knew.
    logEvent(`${participant.address} ${OPS[op]}${away ? ' (resync)' : ''}`, 'presence');
    if (op === 1) participant.on('state', (state) => {
      logEvent(`${participant.address} is ${state?.status ?? 'unknown'}`, 'state');
      renderParticipants(room, me);
    });
    renderParticipants(room, me);
  });
  room.on('error', (error) => {
    errorLine.textContent = error.message;
  });
  room.joined.then(
    () => renderParticipants(room, me),
    (error: unknown) => (errorLine.textContent = error instanceof SignalClientError ? error.message : String(error)),
  );

  statusSelect.addEventListener('change', () => {
    room.me.updateState({ status: statusSelect.value as Status });
    renderParticipants(room, me);
  });
  messageForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = messageInput.value.trim();
    if (text === '') return;
    const to = toSelect.value;
    if (to === '') {
      room.publish({ text });
      showMessage('mine', `${me} (you)`, text);
    } else {
      signal.send({ to, text });
      showMessage('mine', `${me} (you) → ${to}`, text);
    }
    messageInput.value = '';
  });
}

joinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  errorLine.textContent = '';
  const name = nameInput.value.trim();
  demoToken(name).then(
    (token) => {
      joinForm.hidden = true;
      roomSection.hidden = false;
      start(token, name);
      messageInput.focus();
    },
    (error: Error) => (errorLine.textContent = error.message),
  );
});
