export { HistoryStreams, streamConfig, mismatches, epochOf, type StreamState, type HistoryStreamOptions } from './streams.js';
export { readStored, type StoredMessage, type StoredRead, type ReadRange } from './read-stored.js';
export { judgeRecovery, withinWindow, type Recovery, type RecoveryScope, type NotRecoveredReason } from './recovery.js';
export { StoredPublisher } from './publish-stored.js';
export { historyVars } from './history-config.js';
export { HistoryStore, type HistoryStoreOptions, type HistoryEntry, type RecoveryRead, type DirectAddress } from './history-store.js';
