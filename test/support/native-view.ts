import type { RpcClient } from './rpc-client.js';

/**
 * What a native client knows of one presence channel, rebuilt from every frame it received,
 * in order, the way a client SDK would: join_back / join add a participant, a channel-scoped
 * `state` (in `signal.send` or `signal.publish`) updates a known one, leave removes it, and
 * the answer to its own leave (`{result: {id}}` without participants) empties the list.
 */
export function nativeView(client: RpcClient, channel: string): Map<string, unknown> {
  const view = new Map<string, unknown>();
  for (const text of client.raw) {
    if (text === '_pong') continue;
    const frame = JSON.parse(text) as { method?: string; params?: Record<string, unknown>; result?: Record<string, unknown> };
    if (frame.result?.id === channel && !('participants' in frame.result)) view.clear();
    const p = frame.params;
    if (!p || p.id !== channel || typeof p.from !== 'string') continue;
    switch (frame.method) {
      case 'signal.join':
        view.set(p.from, p.state ?? null);
        break;
      case 'signal.join_back':
        if (!view.has(p.from)) view.set(p.from, null);
        break;
      case 'signal.send':
      case 'signal.publish':
        if ('state' in p && view.has(p.from)) view.set(p.from, p.state ?? null);
        break;
      case 'signal.leave':
        view.delete(p.from);
        break;
      default:
        // Frames of other methods (welcome lists, results) do not change the view.
        break;
    }
  }
  return view;
}
