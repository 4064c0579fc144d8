export {
  presenceStoreVars,
  presenceNodeVars,
  storeSettingsFrom,
  timingFrom,
  limitsFrom,
  checkTiming,
  ENTRY_OVERHEAD_BYTES,
  type PresenceStoreSettings,
  type PresenceTiming,
  type PresenceLimits,
} from './config/presence-config.js';
export { openPresenceBuckets, type PresenceBuckets } from './store/buckets.js';
export { participantKey, channelKeyFilter, nodeKeyFilter, nodeOfKey, routeOfKey, ALL_PARTICIPANTS } from './store/keys.js';
export {
  participantValueSchema,
  viewOf,
  type ParticipantValue,
  type StoredParticipant,
  type ParticipantView,
} from './store/participant-entry.js';
export { readLatest, type LatestRecord } from './store/read-latest.js';
export { PresenceStore, RevisionConflict, SWEPT_BY_HEADER, type ChannelRecord } from './store/presence-store.js';
export { isWrongLastSequence } from './store/wrong-last-sequence.js';
export { joinEnvelope, leaveEnvelope, stateEnvelope, publishLeave, scopeOfKey } from './events/presence-events.js';
export { nodeRecordSchema, type NodeRecord } from './nodes/node-record.js';
export { NodeRegistry, NodeSwept } from './nodes/node-registry.js';
export { LivenessWatch, type ObservedNode, type EntryGuard } from './nodes/liveness-watch.js';
export { Sweeper } from './nodes/sweeper.js';
export { checkStateSize } from './limits/state-size.js';
export { revocationStoreVars, revocationSettingsFrom, type RevocationStoreSettings } from './revocations/revocation-config.js';
export { openRevocationBucket, type RevocationBucket } from './revocations/revocation-bucket.js';
export { revocationKey, encodeRevocationValue, decodeRevocation, revocationKeyParts, MAX_JTI_LENGTH, type Revocation } from './revocations/revocation-entry.js';
export { RevocationWriter, type WrittenRevocation } from './revocations/revocation-writer.js';
export { RevocationWatch, type RevocationListener } from './revocations/revocation-watch.js';
export { onlineBucketVar, onlineValueSchema, onlineKey, onlineNodeFilter, openOnlineBucket, type OnlineValue, type OnlineBucketSettings } from './online/online-bucket.js';
export { NodeKeysSweep } from './nodes/node-keys-sweep.js';
