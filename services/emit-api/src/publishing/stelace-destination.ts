import {
  channelSubject,
  connectionSubject,
  isStelaceUserChannel,
  nodeOfRoute,
  routePattern,
  userSubject,
  type Envelope,
  type Fields,
  type Scope,
} from '@signal/core';

export interface DeliveryStep {
  subject: string;
  envelope: Envelope;
}

/**
 * A Stelace destination is one string naming a channel, a connection id or a user id. It is
 * resolved in stages, each a set of subjects tried together; the first stage that reaches
 * anyone ends the delivery:
 *
 * 1. A string shaped like a connection id (`<node>-<n>`) goes to that connection alone.
 * 2. A `usr_…` string (a Stelace user id) goes to that user's connections alone, never to a
 *    channel of the same name: only the user's own token joins its user channel.
 * 3. Anything else goes to the channel of that name and to the user with that identity.
 *
 * A Stelace socket never joins a channel named after its own identity or connection (the
 * gateway counts those as already joined), so stage 3 reaches no Stelace socket twice.
 */
export function stelaceDeliveryStages(scope: Scope, destination: string, fields: Fields): DeliveryStep[][] {
  const direct: Envelope = { t: 'send', fields };
  const stages: DeliveryStep[][] = [];
  const node = routePattern.test(destination) ? nodeOfRoute(destination) : undefined;
  if (node !== undefined) stages.push([{ subject: connectionSubject(scope, node, destination), envelope: direct }]);
  if (isStelaceUserChannel(destination)) {
    stages.push([{ subject: userSubject(scope, destination), envelope: direct }]);
  } else {
    stages.push([
      { subject: channelSubject(scope, destination), envelope: { t: 'publish', ch: destination, fields } },
      { subject: userSubject(scope, destination), envelope: direct },
    ]);
  }
  return stages;
}
