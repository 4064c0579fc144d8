export { HistoryStreams, streamConfig, type StreamState, type HistoryStreamOptions } from './streams.js';
export { readStored, type StoredMessage, type ReadRange } from './read-stored.js';
export { judgeRecovery, type Recovery, type NotRecoveredReason } from './recovery.js';
export { StoredPublisher } from './publish-stored.js';
