/**
 * The publish endpoint the two reference servers share with emit-api's POST /v1/signals: the
 * same bodies (`{to:{channel}, event, message}` or `{signals:[...]}`) and the same
 * `Authorization: Bearer <secret>`. They check the key with a string compare and validate
 * nothing else: the references get the cheapest possible front door.
 */
export function signalsOf(text) {
  const body = JSON.parse(text);
  return Array.isArray(body.signals) ? body.signals : [body];
}
