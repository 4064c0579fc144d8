import type { Envelope, Scope } from '@signal/core';

/**
 * A wire surface renders core envelopes into its own frames. Rendering happens once per
 * message per surface (not per socket): the frame is then fanned out by uWebSockets.js.
 */
export interface Surface {
  /** Short and unique; part of every uWS topic this surface's sockets subscribe to. */
  readonly name: string;
  /**
   * The frame to deliver (or frames, in order, when the surface needs more than one for an
   * envelope), or undefined when this surface does not show this envelope.
   */
  render(envelope: Envelope, scope: Scope): Rendered;
}

export type Rendered = string | readonly string[] | undefined;

export function framesOf(rendered: Rendered): readonly string[] {
  return rendered === undefined ? [] : typeof rendered === 'string' ? [rendered] : rendered;
}
