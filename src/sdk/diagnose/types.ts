// What a connection check reports: one step per thing that can go wrong, in the order a connection meets them.

export type StepName = 'dns' | 'tcp' | 'tls' | 'mqtt' | 'key' | 'rights' | 'cluster' | 'storage' | 'username'

export interface CheckStep {
  name: StepName
  /** False when this step is what must change. */
  ok: boolean
  /** Plain words: what was found, and when not ok, what to change. Never key material. */
  message: string
  /** Not run, because an earlier step failed or it does not apply (message says which). */
  skipped?: boolean
  /** Ok, but something the user should know (plain MQTT, a right only the editor's device list needs). */
  warning?: boolean
}

export interface CheckReport {
  ok: boolean
  steps: CheckStep[]
}

/** What the nodes that use this connection need from the key (rights) and the application. */
export interface Needs {
  /** ttn-uplink / ttn-event nodes, or downlink outcome tracking: Read application traffic. */
  readTraffic?: boolean
  /** ttn-downlink nodes: Write downlink application traffic. */
  writeDownlinks?: boolean
  /** ttn-uplink with *Add device details*: View devices (required). The editor's device list also uses it (optional). */
  readDevices?: boolean
  /** Recover missed uplinks: the Storage Integration enabled (and Read application traffic). */
  recovery?: boolean
}
