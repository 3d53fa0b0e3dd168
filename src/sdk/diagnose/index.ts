/**
 * Check a connection to The Things Stack step by step (name, TCP, TLS, MQTT login, key, rights, cluster,
 * Storage Integration, username) and say for each failing step what to change. The Node-RED admin
 * endpoint `POST /ttn-app/check` and the config node's background diagnosis after a refusal both use it.
 * Messages never contain the key.
 */
import { parseAddress, resolveIdentity, type BrokerAddress, type Identity } from '../address'
import { apiClientForMqtt } from '../api/for-mqtt'
import { ConnectError, MQTTClient, type MQTTClientOptions } from '../client'
import { resolveBrokerMode } from '../broker-mode'
import { ConnectResult } from '../connack'
import { type KeyFacts, clusterStep, keyStep, rightsStep, storageStep } from './api-steps'
import { dnsStep, tcpStep, tlsStep } from './network'
import type { CheckReport, CheckStep, Needs, StepName } from './types'

export type { CheckReport, CheckStep, Needs, StepName } from './types'
export { clusterName } from './api-steps'

export interface CheckInput {
  /** As configured: `my-app` or `my-app@tenant`. */
  appId: string
  apiKey: string
  /** The MQTT address as the MQTTClient takes it. */
  address: string
  options?: MQTTClientOptions
  needs?: Needs
}

export interface CheckOptions {
  /** Run the DNS, TCP, TLS and MQTT steps (default true). The runtime diagnosis skips them: it just saw the server's answer. */
  network?: boolean
  /** Time for the MQTT login, ms (default 8000). */
  mqttTimeoutMs?: number
}

export async function checkConnection(input: CheckInput, opts: CheckOptions = {}): Promise<CheckReport> {
  const steps: CheckStep[] = []
  const options = input.options ?? {}
  const needs = input.needs ?? {}
  const apiKey = typeof input.apiKey === 'string' ? input.apiKey.trim() : ''
  let address: BrokerAddress
  try {
    address = parseAddress(input.address, options.tls?.enabled)
  } catch (err) {
    return report([{ name: 'dns', ok: false, message: (err as Error).message }])
  }
  let identity: Identity
  let username: string
  try {
    identity = resolveIdentity(input.appId, address.host, options.tenant, options.api ?? 'v3')
    username = resolveBrokerMode(options, identity.username, address.host).username
  } catch (err) {
    return report([{ name: 'username', ok: false, message: (err as Error).message }])
  }
  if (!apiKey) return report([{ name: 'key', ok: false, message: 'No API key: paste the key (it starts with NNSXS.) into the API key field.' }])

  let mqttRefused = false
  if (opts.network !== false) {
    const dns = await dnsStep(address.host)
    steps.push(dns)
    const tcp = dns.ok ? await tcpStep(address.host, address.port) : skipped('tcp', 'the name does not resolve')
    steps.push(tcp)
    if (address.tls) steps.push(tcp.ok ? await tlsStep(address.host, address.port, options.tls ?? {}) : skipped('tls', 'TCP does not reach the port'))
    else steps.push({ name: 'tls', ok: true, warning: true, message: `Plain MQTT on port ${address.port}: the key and the traffic travel unencrypted; use TLS (port 8883) over the internet.` })
    const reachable = steps.every((s) => s.ok)
    const mqtt = reachable ? await mqttStep(input.appId, apiKey, input.address, options, username, opts.mqttTimeoutMs) : skipped('mqtt', 'the server cannot be reached')
    mqttRefused = !mqtt.ok && !mqtt.skipped
    steps.push(mqtt)
  }

  const generic = options.username !== undefined || options.topicPrefix !== undefined || options.sharedGroup !== undefined || options.protocolVersion === 5
  if (options.api === 'v2') {
    steps.push(skipped('key', 'TTN v2 had no API for it'))
  } else if (generic && !options.apiUrl) {
    steps.push(skipped('key', 'this is another broker, not The Things Stack: give the API address to check the key there'))
  } else {
    const api = apiClientForMqtt({ appId: identity.appId, apiKey, host: address.host, apiUrl: options.apiUrl, tls: options.tls })
    const facts: KeyFacts = {}
    const key = await keyStep(api, identity.appId, facts)
    steps.push(key)
    const rights = key.ok ? await rightsStep(api, identity.appId, needs, facts, address.host) : skipped('rights', 'the key is not valid for this application')
    steps.push(rights)
    if (!generic && facts.rights && facts.rights.length > 0) steps.push(await clusterStep(api, identity.appId, address.host, facts))
    else if (!generic && key.ok && facts.rights?.length === 0) steps.push(skipped('cluster', 'the key has no rights to look at the devices'))
    if (needs.recovery) steps.push(rights.ok || facts.rights?.length ? await storageStep(api, identity.appId) : skipped('storage', 'the key has no rights on the application'))
  }
  steps.push(usernameStep(input.appId, options, identity, username, address.host))
  if (mqttRefused) explainRefusal(steps, username)
  return report(steps)
}

/** The first step that says what to change, for a status line and the log; undefined when all are fine. */
export function firstProblem(r: CheckReport, ignore: StepName[] = []): CheckStep | undefined {
  return r.steps.find((s) => !s.ok && !s.skipped && !ignore.includes(s.name))
}

async function mqttStep(appId: string, apiKey: string, address: string, options: MQTTClientOptions, username: string, timeoutMs = 8000): Promise<CheckStep> {
  const { recover: _recover, ...rest } = options
  const client = new MQTTClient(appId, apiKey, address, { ...rest, autoConnect: false, connectTimeoutMs: timeoutMs, reconnect: { minDelayMs: 3_600_000, maxDelayMs: 3_600_000 } })
  // The check's own client warns about TLS verification off through the TLS step; nothing to log here.
  client.on('error', () => undefined)
  client.on('warning', () => undefined)
  try {
    await client.connect()
    return { name: 'mqtt', ok: true, message: `The MQTT server accepted the login as "${username}" (CONNACK 0).` }
  } catch (err) {
    if (err instanceof ConnectError) {
      if (err.code === ConnectResult.NotAuthorized || err.code === ConnectResult.BadUsernameOrPassword) {
        return { name: 'mqtt', ok: false, message: `The MQTT server refused the login as "${username}" (CONNACK ${err.code}, not authorized).` }
      }
      return { name: 'mqtt', ok: false, message: err.hint }
    }
    return { name: 'mqtt', ok: false, message: (err as Error).message }
  } finally {
    await client.close().catch(() => undefined)
  }
}

/** After CONNACK 5: point at the step that explains it, or, when the key is fine, at the username. */
function explainRefusal(steps: CheckStep[], username: string): void {
  const mqtt = steps.find((s) => s.name === 'mqtt') as CheckStep
  const cause = steps.find((s) => !s.ok && !s.skipped && s.name !== 'mqtt' && s.name !== 'tls')
  if (cause) {
    mqtt.message += ' The cause is below.'
    return
  }
  mqtt.message +=
    ` The key is valid for the application, so the login name is the likely cause: "${username}" must be the application ID with its tenant ` +
    '("@ttn" on The Things Network, "@<tenant>" on The Things Stack Cloud, none on Open Source).'
}

function usernameStep(raw: string, options: MQTTClientOptions, identity: Identity, username: string, host: string): CheckStep {
  const trimmed = String(raw).trim()
  let why: string
  if (options.username !== undefined) why = 'the broker user configured'
  else if (trimmed.includes('@')) why = 'the tenant written in the application ID'
  else if (typeof options.tenant === 'string' && options.tenant.trim()) why = `the tenant "${identity.tenant}" configured`
  else if (identity.tenant) why = `the tenant "${identity.tenant}" that ${host} implies`
  else why = 'no tenant: right for The Things Stack Open Source and local brokers'
  return { name: 'username', ok: true, message: `Logs in as "${username}" (${why}).` }
}

function skipped(name: StepName, why: string): CheckStep {
  return { name, ok: true, skipped: true, message: `Not checked: ${why}.` }
}

function report(steps: CheckStep[]): CheckReport {
  return { ok: steps.every((s) => s.ok || s.skipped === true), steps }
}
