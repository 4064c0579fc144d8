import { SignalError, type Apps, type TokenRules } from '@signal/core';
import type { RevocationList } from '../../auth/revocation-list.js';
import type { Logger } from 'pino';
import type { WebSocket } from 'uWebSockets.js';
import { createSession } from '../../core/create-session.js';
import type { Hub } from '../../core/hub.js';
import type { Session } from '../../core/session.js';
import type { Surface } from '../../core/surface.js';
import type { ConnectionTicket } from '../../limits/connection-limits.js';
import type { Limits } from '../../limits/limits.js';
import type { RequestQuota } from '../../limits/request-limits.js';
import { ENGINE, EngineProtocolError, openPacket, parseEnginePacket, type EngineVersion } from './engine-packets.js';
import { STELACE_NAMESPACE } from './render.js';
import { PACKET, SocketProtocolError, eventFrame, parseSocketPacket, socketFrame, type SocketPacket } from './socket-packets.js';
import { metrics } from '../../metrics/gateway-metrics.js';
import { CLOSE_RATE_LIMITED, closeReason } from '../../server/close-codes.js';
import { authenticationTimeoutReason, checkAuthentication, limitReason, reasonLabel } from './stelace-handshake.js';

export interface SocketIoSettings {
  authTimeoutMs: number;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  maxFrameBytes: number;
  maxJsonDepth: number;
}

export interface SocketIoContext {
  hub: Hub;
  /** The node's one Stelace surface: every Stelace session shares it, so each message is rendered once. */
  surface: Surface;
  registry: Apps;
  revocations: RevocationList;
  /** Lifetime cap every token is checked against (MAX_TOKEN_TTL_SECONDS). */
  tokenRules: TokenRules;
  limits: Limits;
  settings: SocketIoSettings;
  log: Logger;
}

export interface SocketIoData {
  socket: StelaceSocket;
}

/** Every Engine.IO v4 socket subscribes to this uWS topic; one publish pings them all. */
export const ENGINE_V4_PING_TOPIC = 'sio-ping';

/** The ack id of the server's one `authentication` emit. */
const AUTH_ACK_ID = 0;

type Phase = 'engine' | 'namespace' | 'authenticated' | 'refused';

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * One Stelace client connection: Engine.IO and Socket.IO framing, then the Stelace
 * handshake. Once authenticated it is a Session of the shared core like any other, and
 * everything it receives comes from the hub's topic fan-out.
 *
 * Its route (the core's connection id) is chosen at upgrade, because the client learns it
 * twice before the session exists: as the Engine.IO `sid` and as the `authentication` id.
 */
export class StelaceSocket {
  private ws: WebSocket<SocketIoData> | undefined;
  private phase: Phase = 'engine';
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private session: Session | undefined;
  /** From the upgrade on: packets count against the frame rate before the handshake too. */
  private readonly quota: RequestQuota;

  constructor(
    private readonly context: SocketIoContext,
    readonly route: string,
    readonly version: EngineVersion,
    /** This socket's place in the node's connection counts, from the upgrade until it closes. */
    private readonly ticket: ConnectionTicket,
  ) {
    this.quota = context.limits.requests.quota();
  }

  onOpen(ws: WebSocket<SocketIoData>): void {
    this.ws = ws;
    const { settings } = this.context;
    if (this.version === 4) ws.subscribe(ENGINE_V4_PING_TOPIC);
    ws.cork(() => {
      ws.send(
        openPacket({
          sid: this.route,
          version: this.version,
          pingIntervalMs: settings.pingIntervalMs,
          pingTimeoutMs: settings.pingTimeoutMs,
          maxPayload: settings.maxFrameBytes,
        }),
      );
      // A socket.io 2.x server connects every client to the main namespace at once.
      if (this.version === 3) ws.send(socketFrame(PACKET.connect, '/'));
    });
    this.startTimer();
  }

  onMessage(data: ArrayBuffer, isBinary: boolean): void {
    if (this.closed) return;
    try {
      this.quota.take('frame');
    } catch {
      // Socket.IO has no error reply for a packet: an over-rate packet is dropped, and a socket
      // that goes on flooding is closed. Real clients send a pong every ping interval.
      if (this.quota.flooding) this.end(CLOSE_RATE_LIMITED.code, CLOSE_RATE_LIMITED.reason);
      return;
    }
    const { maxFrameBytes } = this.context.settings;
    if (data.byteLength > maxFrameBytes) return this.end(1009, `frame is over the ${maxFrameBytes}-byte limit`);
    if (isBinary) return this.end(1003, 'binary frames are not supported; send Socket.IO text packets');
    let text: string;
    try {
      text = decoder.decode(data);
    } catch {
      return this.end(1007, 'frame is not valid UTF-8');
    }
    try {
      this.onEnginePacket(text);
    } catch (error) {
      if (!(error instanceof EngineProtocolError || error instanceof SocketProtocolError)) {
        // A bug, not the client's fault; never thrown into uWS's loop.
        this.context.log.error({ err: error, route: this.route }, 'socket.io packet handling failed');
        return this.end(1011, 'internal error');
      }
      if (error instanceof SocketProtocolError && error.limit !== undefined) metrics.limitRefusals.inc({ limit: error.limit });
      this.context.log.info({ route: this.route, reason: error.message }, 'socket.io protocol error');
      this.end(1002, error.message);
    }
  }

  onClose(code: number): void {
    this.closed = true;
    this.ticket.release();
    this.ws = undefined;
    this.stopTimer();
    const session = this.session;
    if (session) {
      session.ws = undefined;
      this.context.hub.close(session);
      this.session = undefined;
      this.context.log.info({ route: this.route, code, ip: this.ticket.ip }, 'stelace socket closed');
    }
  }

  private onEnginePacket(text: string): void {
    const packet = parseEnginePacket(text);
    switch (packet.type) {
      case 'ping':
        // v3 clients drive the heartbeat; v4 clients only ping to probe an upgrade.
        if (this.version === 3 || packet.data === 'probe') this.send(ENGINE.pong + packet.data);
        return;
      case 'close':
        return this.end(1000, 'closed by client');
      case 'message':
        return this.onSocketPacket(parseSocketPacket(packet.data, this.context.settings.maxJsonDepth));
      default:
        // Pongs and noops: liveness is watched by uWS idle timeouts, which any frame resets.
        return;
    }
  }

  private onSocketPacket(packet: SocketPacket): void {
    switch (packet.type) {
      case PACKET.connect:
        return this.onConnect(packet.nsp);
      case PACKET.disconnect:
        // Our only namespace is gone, so the client's manager closes the transport anyway.
        if (packet.nsp === STELACE_NAMESPACE) this.end(1000, 'client disconnected');
        return;
      case PACKET.ack:
        if (packet.nsp === STELACE_NAMESPACE && packet.id === AUTH_ACK_ID && this.phase === 'namespace') {
          try {
            this.authenticate(packet.data[0]);
          } catch (error) {
            this.context.log.error({ err: error, route: this.route }, 'stelace authentication failed unexpectedly');
            if (!this.closed) this.end(1011, 'internal error');
          }
        }
        return;
      case PACKET.event:
        // Stelace's server handles no client events; it ignored them, and so do we.
        return;
    }
  }

  private onConnect(nsp: string): void {
    if (nsp === STELACE_NAMESPACE) {
      if (this.phase !== 'engine') return;
      this.phase = 'namespace';
      const connected = this.version === 3 ? socketFrame(PACKET.connect, nsp) : socketFrame(PACKET.connect, nsp, { data: { sid: this.route } });
      this.send(connected, eventFrame(nsp, ['authentication', this.route], AUTH_ACK_ID));
      this.startTimer();
    } else if (nsp === '/') {
      if (this.version === 4) this.send(socketFrame(PACKET.connect, '/', { data: { sid: this.route } }));
    } else {
      const error = `Invalid namespace; Stelace clients connect to ${STELACE_NAMESPACE}`;
      this.send(socketFrame(PACKET.connectError, nsp, { data: this.version === 3 ? error : { message: error } }));
    }
  }

  private authenticate(answer: unknown): void {
    const { hub, registry, revocations, tokenRules, limits, log } = this.context;
    const outcome = checkAuthentication(registry, revocations, tokenRules, answer, this.route);
    if (!outcome.ok) return this.refuse(outcome.reason, outcome.label);
    try {
      limits.requests.checkChannelList(outcome.channels.length);
      this.ticket.identify(outcome.principal);
    } catch (error) {
      if (!(error instanceof SignalError) || error.code !== 'limit_exceeded') throw error;
      const refusal = limitReason(error);
      return this.refuse(refusal.reason, refusal.label);
    }
    this.stopTimer();
    this.phase = 'authenticated';
    // Stelace clients send no requests after the handshake; only the frame rate draws on the quota.
    const session = createSession(
      hub,
      this.context.surface,
      outcome.principal,
      { ip: this.ticket.ip, quota: this.quota, closeWith: (close) => this.closeWith(close) },
      this.route,
    );
    session.ws = this.ws;
    this.session = session;
    hub.open(session);
    for (const channel of outcome.channels) hub.join(session, channel);
    if (outcome.warnings.length > 0) this.send(...outcome.warnings.map((warning) => eventFrame(STELACE_NAMESPACE, ['warning', warning])));
    log.info(
      {
        route: this.route,
        app: session.scope.app,
        env: session.scope.env,
        anonymous: session.anonymous,
        channels: outcome.channels.length,
        eio: this.version,
        ip: this.ticket.ip,
      },
      'stelace socket authenticated',
    );
  }

  /**
   * A backend ended this socket (token revoked, or disconnected): Stelace's way out, as for a
   * refused handshake, then the WebSocket close code saying why. The namespace disconnect makes
   * socket.io-client report `io server disconnect` and not reconnect on its own.
   */
  private closeWith(close: { code: number; reason: string }): void {
    this.send(eventFrame(STELACE_NAMESPACE, ['willDisconnect', { error: close.reason }]), socketFrame(PACKET.disconnect, STELACE_NAMESPACE));
    this.end(close.code, close.reason);
  }

  /** Stelace's way out: `willDisconnect {error}`, then a namespace disconnect the client reports as `io server disconnect`. */
  private refuse(reason: string, label = reasonLabel(reason)): void {
    this.phase = 'refused';
    this.stopTimer();
    this.context.log.info({ route: this.route, reason, ip: this.ticket.ip }, 'stelace socket refused');
    metrics.connectionsRefused.inc({ reason: label });
    this.send(eventFrame(STELACE_NAMESPACE, ['willDisconnect', { error: reason }]), socketFrame(PACKET.disconnect, STELACE_NAMESPACE));
    this.end(1000, 'authentication failed');
  }

  private startTimer(): void {
    this.stopTimer();
    this.timer = setTimeout(() => this.onTimeout(), this.context.settings.authTimeoutMs);
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private onTimeout(): void {
    this.timer = undefined;
    if (this.closed) return;
    const { authTimeoutMs } = this.context.settings;
    if (this.phase === 'engine') return this.end(1008, `connect to namespace ${STELACE_NAMESPACE} within ${authTimeoutMs} ms`);
    if (this.phase === 'namespace') this.refuse(authenticationTimeoutReason(authTimeoutMs));
  }

  private send(...frames: string[]): void {
    const ws = this.ws;
    if (this.closed || !ws) return;
    ws.cork(() => {
      for (const frame of frames) ws.send(frame);
    });
  }

  private end(code: number, reason: string): void {
    const ws = this.ws;
    if (this.closed || !ws) return;
    this.closed = true;
    ws.end(code, closeReason(reason));
  }
}
