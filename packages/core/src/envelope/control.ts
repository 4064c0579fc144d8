/**
 * Commands for gateways that travel on a user's, device's or connection's own subject, next to
 * the envelopes delivered to it (envelope.ts). Only the emit-api sends them (NATS permissions
 * keep clients' gateways from choosing what they publish: a client's frames always become
 * envelopes). A gateway that does not know a command drops it like any message it cannot read.
 *
 * `disconnect`: close every connection of this node that the address names (`identity`,
 * `identity/device` or `identity/device/route`) with close code 4004.
 */
export interface DisconnectCommand {
  readonly t: 'disconnect';
  readonly to: string;
}

export type ControlCommand = DisconnectCommand;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeControl(command: ControlCommand): Uint8Array {
  return encoder.encode(JSON.stringify(command));
}

/** Undefined for anything that is not a command (most messages: decoded only after an envelope failed). */
export function decodeControl(data: Uint8Array): ControlCommand | undefined {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const command = value as Record<string, unknown>;
  if (command.t === 'disconnect' && typeof command.to === 'string' && command.to.length <= 1024) return { t: 'disconnect', to: command.to };
  return undefined;
}
