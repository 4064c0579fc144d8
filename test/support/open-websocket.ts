import type WebSocket from 'ws';

/**
 * Resolves once the socket is open; rejects with `<status> <body>` when the server refuses the
 * upgrade. Takes a socket the caller already listens on, so no frame sent right after the
 * handshake can slip past.
 */
export async function opened(ws: WebSocket): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      res.on('end', () => reject(new Error(`${res.statusCode} ${body}`)));
    });
  });
}
