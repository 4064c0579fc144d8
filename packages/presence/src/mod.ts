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
export { openPresenceBuckets, openPresenceBucketsAtStart, type PresenceBuckets, type PresenceShard } from './store/buckets.js';
export { shardBucketName, shardBucketNames, shardOfChannel, shardOfKey } from './store/shards.js';
export { ShardedPresenceStore } from './store/sharded-store.js';
export { participantKey, channelKeyFilter, nodeKeyFilter, nodeOfKey, routeOfKey, ALL_PARTICIPANTS } from './store/keys.js';
export {
  participantValueSchema,
  viewOf,
  type ParticipantValue,
  type StoredParticipant,
  type ParticipantView,
} from './store/participant-entry.js';
export { readLatest, type LatestRecord } from './store/read-latest.js';
export { RevisionConflict, SWEPT_BY_HEADER, type PresenceStore, type ChannelRecord, type ChannelFeed, type FeedListener } from './store/presence-store.js';
export { JetStreamPresenceStore, jetStreamPresenceStore } from './store/jetstream-store.js';
export { MemoryPresenceStore } from './store/memory-store.js';
export { isWrongLastSequence } from './store/wrong-last-sequence.js';
export { openKvBucket, type OpenedBucket, type BucketExpectation } from './kv/open-bucket.js';
export { MarkerPurge } from './kv/marker-purge.js';
export { joinEnvelope, leaveEnvelope, stateEnvelope, publishLeave, scopeOfKey } from './events/presence-events.js';
export { nodeRecordSchema, decodeNodeRecord, type NodeRecord } from './nodes/node-record.js';
export { nodeViewOf, type NodeView } from './nodes/node-view.js';
export { NodeRegistry, NodeSwept } from './nodes/node-registry.js';
export { disagreeingNodes, waitForShardAgreement, type Disagreeing } from './nodes/shard-agreement.js';
export { LivenessWatch, type ObservedNode, type EntryGuard } from './nodes/liveness-watch.js';
export { BeatListener, beatSubject } from './nodes/beat-listener.js';
export { isTransient, retryTransient, DEFAULT_RETRY_DELAYS, type RetryPolicy, type RetryObserver } from './faults/transient.js';
export { waitAtStart, requireJetStream, type StartLog } from './faults/wait-at-start.js';
export { Sweeper } from './nodes/sweeper.js';
export { occupancyStoreVars, occupancySettingsFrom, type OccupancySettings } from './occupancy/occupancy-config.js';
export { openOccupancyBucket, OCCUPANCY_MAX_AGE_MS, OCCUPANCY_REFRESH_MS, type OccupancyBucket } from './occupancy/occupancy-bucket.js';
export { occupancyKey, occupancyChannelFilter, occupancyNodeFilter, nodeOfOccupancyKey } from './occupancy/occupancy-keys.js';
export {
  occupancyValueSchema,
  encodeOccupancy,
  decodeOccupancy,
  sameCounts,
  isEmpty,
  NO_OCCUPANCY,
  type OccupancyValue,
  type OccupancyCounts,
} from './occupancy/occupancy-entry.js';
export { liveInstances, readNodeOccupancy, readOccupancy, sumLive, type NodeOccupancy } from './occupancy/occupancy-reader.js';
/** The KV types the occupancy API takes and gives, for services that do not depend on @nats-io/kv. */
export type { KV, KvWatchEntry } from '@nats-io/kv';
export { checkStateSize } from './limits/state-size.js';
export { revocationStoreVars, revocationSettingsFrom, type RevocationStoreSettings } from './revocations/revocation-config.js';
export { openRevocationBucket, type RevocationBucket } from './revocations/revocation-bucket.js';
export { revocationKey, encodeRevocationValue, decodeRevocation, revocationKeyParts, MAX_JTI_LENGTH, type Revocation } from './revocations/revocation-entry.js';
export { RevocationWriter, type WrittenRevocation } from './revocations/revocation-writer.js';
export { RevocationWatch, type RevocationListener } from './revocations/revocation-watch.js';
export { onlineBucketVar, onlineValueSchema, onlineKey, onlineNodeFilter, openOnlineBucket, type OnlineValue, type OnlineBucketSettings } from './online/online-bucket.js';
export { NodeKeysSweep } from './nodes/node-keys-sweep.js';
