/** Recovering missed uplinks from the Storage Integration (see recovery.ts). */
export { Recovery, resolveRecovery, defaultRetentionMs, type RecoveryOptions, type RecoveryCheckpoint, type RecoveryEvent, type RecoveryHooks, type RecoverySettings } from './recovery'
export { StorageClient, StorageError, normalizeBaseUrl, retryAfter, type StorageErrorKind, type StoredUplink, type ReadSummary } from './storage-client'
export { JsonObjectStream, StreamFormatError, streamItem, type StreamItem } from './stream-parser'
export { RecentKeys, UplinkMemory, uplinkIdentity, type UplinkIdentity } from './dedup'
export { canonicalTime, msToTime, timeToMs, oneNanosecondBefore, humanDuration } from './timestamp'
