/**
 * The ApiClient an MQTTClient uses: the same key, host and TLS settings, so `listQueue`/`clearQueue` on
 * the MQTT client reach the HTTP API of the same server (or `apiUrl` when the HTTP API lives elsewhere,
 * as in the generic broker mode).
 */
import { idProblem } from '../address'
import { ValidationError } from '../errors'
import { ApiClient } from './client'
import type { HttpTlsOptions } from './http'

export interface MqttSideSettings {
  appId: string
  apiKey: string
  host: string
  apiUrl?: string
  tls?: HttpTlsOptions & { enabled?: boolean }
}

export function apiClientForMqtt(s: MqttSideSettings): ApiClient {
  const { enabled: _enabled, ...tls } = s.tls ?? {}
  return new ApiClient({ appId: s.appId, apiKey: s.apiKey, host: s.host, apiUrl: s.apiUrl, tls })
}

/** A device ID the API can take, or a ValidationError that says what is wrong with it. */
export function checkedDeviceId(deviceId: unknown): string {
  const problem = idProblem('device', deviceId)
  if (problem) throw new ValidationError(problem, 'deviceId')
  return deviceId as string
}
