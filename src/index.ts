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
