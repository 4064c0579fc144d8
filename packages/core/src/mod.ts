export { SignalError, ConfigError, AuthError, isSignalError, type ErrorCode, type SignalErrorOptions } from './errors/signal-error.js';
export { fromZodError, issuePath } from './errors/zod-issue.js';
export { parseEnv, intVar, logLevelVar, natsUrlVar, maxTokenTtlVar, appsFileWatchVar, webhookStreamVar } from './config/env.js';
export { ENVIRONMENTS, APPS_FILE_LIMITS, WEBHOOK_EVENTS, parseAppsFile, loadAppsFile, readAppsJson, appsFileSchema, kidSchema, SECRET_KEY_PERMISSIONS, type SecretKeyPermission, type Environment, type AppsFile, type NamespaceOptions, type HistorySettings, type HistoryWindow, type WebhookConfig, type WebhookEventType } from './apps/apps-file.js';
export {
  AppRegistry,
  sha256Hex,
  webhookEndpointId,
  tokenKeyOf,
  type Apps,
  type Scope,
  type ScopeKeys,
  type SecretKeyGrant,
  type EnvironmentAuthorization,
  type TokenKey,
  type TokenKeyRef,
  type IdentityProvider,
  type EnvironmentWebhooks,
  type HistoryStreamLimits,
} from './apps/registry.js';
export { LiveApps } from './apps/live-apps.js';
export { DEFAULT_MAX_TOKEN_TTL_SECONDS } from './auth/token-lifetime.js';
export { generateApp } from './apps/generate.js';
export {
  mintUserToken,
  verifyUserToken,
  signingHeader,
  DEFAULT_TOKEN_RULES,
  type TokenRules,
  verifySignedToken,
  grantsSchema,
  TokenError,
  type Grants,
  type VerifiedUser,
  type MintOptions,
  type TokenFailure,
} from './auth/user-token.js';
export {
  mintChannelToken,
  verifyChannelToken,
  channelOperationsSchema,
  type ChannelGrant,
  type VerifiedChannelToken,
  type ChannelTokenOptions,
} from './auth/channel-token.js';
export {
  OPERATIONS,
  MAX_PATTERNS,
  MAX_PATTERN_LENGTH,
  MAX_CAPABILITY_JSON,
  channelPatternSchema,
  capabilitySchema,
  sendRuleSchema,
  capabilityClaim,
  grantedOperations,
  matchesPattern,
  objectEntriesSchema,
  type Operation,
  type Capability,
  type CapabilityRule,
  type SendRule,
} from './auth/capability.js';
export {
  parseAddress,
  formatAddress,
  parseSubject,
  nodeOfRoute,
  identitySchema,
  deviceSchema,
  routePattern,
  ANONYMOUS,
  DEFAULT_DEVICE,
  type Address,
} from './addresses/address.js';
export { encodeToken, decodeToken } from './subjects/token.js';
export {
  channelSubject,
  userSubject,
  deviceSubject,
  connectionSubject,
  broadcastSubject,
  nodeConnectionsWildcard,
  parseConnectionSubject,
  selfCheckSubject,
  historySubject,
  directHistorySubject,
  historySubjects,
  historyRepublishTarget,
  historyStreamName,
  WEBHOOK_MESSAGES_PREFIX, WEBHOOK_EVENTS_PREFIX, WEBHOOK_DEAD_PREFIX, WEBHOOK_HEADERS,
  webhookMessageSubject,
} from './subjects/subjects.js';
export { channelNameSchema, eventNameSchema } from './names/names.js';
export {
  DEFAULT_MAX_JSON_DEPTH,
  maxJsonDepthVar,
  jsonTextTooDeep,
  pathTooDeep,
  jsonTooDeepError,
  assertJsonValueDepth,
} from './json/json-limits.js';
export {
  encodeEnvelope,
  decodeEnvelope,
  type Envelope,
  type PublishEnvelope,
  type SendEnvelope,
  type JoinEnvelope,
  type LeaveEnvelope,
  type Fields,
  type Position,
} from './envelope/envelope.js';
export {
  STELACE_RESERVED_EVENTS,
  STELACE_USER_PREFIX,
  isStelaceUserChannel,
  STELACE_ORGANIZATION_PREFIX,
  isStelaceOrganizationChannel,
  stelaceNameSchema,
  stelaceEventSchema,
} from './stelace/stelace-names.js';
export { encodeControl, decodeControl, type ControlCommand, type DisconnectCommand } from './envelope/control.js';
export { ASYMMETRIC_ALGORITHMS, publicKeyFrom, verifyAsymmetric, type AsymmetricAlgorithm, type PublicKey } from './auth/public-keys.js';
export { jetStreamDelivery, type JetStreamDelivery } from './subjects/jetstream-delivery.js';
