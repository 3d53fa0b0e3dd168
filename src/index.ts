/**
 * The package's main entry: the SDK, usable without Node-RED.
 *   import { MQTTClient } from 'node-red-contrib-things-stack'
 */
export {
  MQTTClient,
  ConnectError,
  MalformedMessageError,
  type MQTTClientOptions,
  type TlsOptions,
  type ConnectionState,
  type ConnectionStatus,

  type SendOptions,
  type SendResult,
  type UplinkCallback,
  type ConnectCallback,
  type DownlinkCallback,
  type CloseCallback,
  type ClientEvents,
  Delivery,
} from './sdk/client'
export { ConnectResult, explainConnectFailure } from './sdk/connack'
export { DownlinkError, type DownlinkOutcome, type DownlinkStatus, type WaitTarget } from './sdk/downlink-tracker'
export { ValidationError } from './sdk/errors'
export { type ClassBC, type ClassBCGateway, validateClassBC } from './sdk/downlinks/class-bc'
export { RETRY_OUTCOMES, RETRYABLE_FAILURES, type RetryOptions, type RetryOutcome, resolveRetry } from './sdk/downlinks/retry-policy'
export { NEXT_UPLINK } from './sdk/downlinks/retrying-send'
export {
  StorageError,
  type StorageErrorKind,
  type RecoveryOptions,
  type RecoveryCheckpoint,
  type RecoveryEvent,
} from './sdk/recovery'
export { base64ToBytes, hexToBytes, encodePayload, type PayloadFormat } from './sdk/payload'
export { parseAddress, deriveTenant, resolveIdentity, idProblem, DEFAULT_ADDRESS } from './sdk/address'
export { EVENT_NAMES, type EventName, type Api } from './sdk/topics'
export { validateDownlink, MAX_PAYLOAD_BYTES, MIN_PORT, MAX_PORT, type Schedule } from './sdk/validate'
export * from './sdk/uplink'
export type * from './sdk/messages'
export { PRIORITIES } from './sdk/messages'
// Payload codecs (The Things Stack's formatters, run locally and sandboxed): docs/codecs.md
export {
  loadCodec,
  openDeviceRepository,
  checkCodecExamples,
  checkRepositoryExamples,
  CodecLoadError,
  DEFAULT_LIMITS,
  DEVICE_REPOSITORY_URL,
  REGION_BY_BAND_ID,
  type DeviceRepository,
  type DeviceRepositoryOptions,
  type ResolvedCodec,
  type CodecDefinition,
  type ExamplesReport,
  type ExampleMismatch,
} from './sdk/codecs'
export type * from './sdk/codecs/types'
export {
  ApiClient,
  ApiError,
  type ApiErrorKind,
  type ApiClientOptions,
  type ListDevicesOptions,
  type DeviceList,
  type StorageStatus,
  resolveApiBase,
  type ApiBase,
  Right,
  rightLabel,
  DEVICE_DETAIL_FIELDS,
} from './sdk/api'
export type { AuthInfo, EndDevice, QueuedDownlink } from './sdk/api'
export {
  HealthTracker,
  HealthWatch,
  healthTrackerFor,
  type HealthTrackerOptions,
  type HealthEvent,
  type HealthEventName,
  type WatchOptions,
  type WatchedDeviceHealth,
  type AppHealth,
  type DeviceHealth,
} from './sdk/health'
export {
  GatewayPoller,
  judgeGateway,
  parseGatewayIds,
  type GatewayPollerOptions,
  type GatewayReport,
  type GatewayProblem,
  type GatewayConnectionStats,
  type PollerStatus,
} from './sdk/gateways'
export { checkConnection, firstProblem, type CheckInput, type CheckReport, type CheckStep, type Needs } from './sdk/diagnose'
