import { SignalError } from '@signal/core';

/** Participant state is stored and sent to every newcomer, so its size is bounded. */
export function checkStateSize(state: unknown, maxBytes: number): void {
  const bytes = Buffer.byteLength(JSON.stringify(state) ?? '', 'utf8');
  if (bytes > maxBytes) {
    throw new SignalError(
      'limit_exceeded',
      `state is ${bytes} bytes of JSON, over the ${maxBytes}-byte limit (PRESENCE_MAX_STATE_BYTES); send a smaller state`,
      { field: 'state' },
    );
  }
}
