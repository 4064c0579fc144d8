/**
 * The child side of IpcClient: runs `handlers[cmd]` for each message and answers with its
 * result, or with the error's message.
 */
export function serveIpc(handlers) {
  process.on('message', async (message) => {
    const { id, cmd, ...args } = message;
    try {
      const handler = handlers[cmd];
      if (!handler) throw new Error(`unknown command '${cmd}'`);
      const result = await handler(args);
      process.send({ id, ok: true, ...result });
    } catch (error) {
      process.send({ id, error: error instanceof Error ? error.message : String(error) });
    }
  });
  process.on('disconnect', () => process.exit(0));
  // A clean exit (not the default signal death) lets `node --cpu-prof` write its profile.
  process.on('SIGTERM', () => process.exit(0));
}
