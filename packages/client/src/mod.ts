export { Signal, type SignalEvents, type ConnectionState, type SignalCredentials } from './signal.js';
export type { SignalOptions } from './options.js';
export { Channel, LocalParticipant, type ChannelEvents, type JoinOptions, type ChannelTokenProvider, type RecoveryOutcome } from './channels/channel.js';
export type { Position } from './rpc/server-frames.js';
export { Participant, type ParticipantEvents, type State } from './channels/participant.js';
export type { ParticipantOp } from './channels/participant-list.js';
export type { Occupancy } from './rpc/server-frames.js';
export {
  SignalClientError,
  type SignalErrorCode,
  type ServerErrorCode,
  type ClientErrorCode,
  type SignalClientErrorOptions,
} from './errors/signal-client-error.js';
export type { Payload, Incoming, Outgoing, SendOptions } from './messages.js';
export type { TokenProvider } from './auth/token-source.js';
export type { GatewayUrl, UrlRequest } from './transport/gateway-url.js';
export type { ReconnectOptions } from './transport/link.js';
export type { BackoffOptions } from './transport/backoff.js';
export type { WebSocketConstructor } from './transport/websocket-constructor.js';
export type { Emitter, EventMap } from './events/emitter.js';
