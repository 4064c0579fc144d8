export { HistoryStreams, streamConfig, mismatches, epochOf, type StreamState, type HistoryStreamOptions } from './streams.js';
export { readStored, type StoredMessage, type ReadRange } from './read-stored.js';
export { judgeRecovery, type Recovery, type NotRecoveredReason } from './recovery.js';
export { StoredPublisher } from './publish-stored.js';
export { historyVars } from './history-config.js';
export { HistoryStore, type HistoryStoreOptions, type HistoryEntry, type RecoveryRead } from './history-store.js';
