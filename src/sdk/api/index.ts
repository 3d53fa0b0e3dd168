/** The HTTP API side of the SDK: request helper, client, where the API lives, rights by name. */
export { ApiClient, type ApiClientOptions, type DeviceList, type ListDevicesOptions, type StorageStatus } from './client'
export { ApiError, type ApiErrorKind, type HttpTlsOptions, apiRequest } from './http'
export { type ApiBase, isTheThingsNetwork, normalizeApiUrl, resolveApiBase, TTN_IDENTITY_HOST } from './base-url'
export { Right, type RightName, hasRight, rightLabel } from './rights'
export { apiClientForMqtt } from './for-mqtt'
export { DEVICE_DETAIL_FIELDS, type DeviceDetailField } from './types'
export type * from './types'
