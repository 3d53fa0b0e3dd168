/**
 * The package's admin endpoints (Node-RED's admin API, behind its permissions), thin glue over the SDK:
 *   POST /ttn-app/check          (ttn-app.write) the dialog's values → the connection check's steps
 *   GET  /ttn-app/:id/devices    (ttn-app.read)  a page of the deployed application's devices, searched on the server;
 *        when there are none to show, still 200, with `reason` and `message` saying why (the editor shows it,
 *        and an expected empty list is no error in the browser's console)
 * The stored key is read from the deployed node's credentials when the dialog sends none; no answer ever
 * contains a key.
 */
import { ApiError } from '../sdk/api/http'
import { Right, rightLabel } from '../sdk/api/rights'
import { checkConnection, type Needs } from '../sdk/diagnose'
import { combineNeeds, needsOfType } from './app-api'
import type { NodeRedRuntime, TlsConfigNode } from './red'
import { type TtnAppConfig, type TtnAppNode, clientArguments } from './ttn-app'

interface Request {
  body?: Record<string, unknown>
  params: Record<string, string>
  query: Record<string, unknown>
}
interface Response {
  status(code: number): Response
  json(body: unknown): void
}
type Handler = (req: Request, res: Response) => void
interface AdminRuntime extends NodeRedRuntime {
  httpAdmin: { get(path: string, ...handlers: unknown[]): void; post(path: string, ...handlers: unknown[]): void }
  auth: { needsPermission(permission: string): unknown }
  nodes: NodeRedRuntime['nodes'] & {
    getCredentials(id: string): Record<string, string> | undefined
    eachNode(cb: (n: Record<string, unknown>) => void): void
  }
}

/** The editor shows this for a password credential that is stored but not shown. */
const STORED_PASSWORD = '__PWRD__'
const DEVICE_PAGE_MAX = 1000

export function registerAdminEndpoints(runtime: NodeRedRuntime): void {
  const RED = runtime as AdminRuntime
  if (!RED.httpAdmin || !RED.auth) return
  RED.httpAdmin.post('/ttn-app/check', RED.auth.needsPermission('ttn-app.write'), handle(RED, check))
  RED.httpAdmin.get('/ttn-app/:id/devices', RED.auth.needsPermission('ttn-app.read'), handle(RED, devices))
}

function handle(RED: AdminRuntime, fn: (RED: AdminRuntime, req: Request, res: Response) => Promise<void>): Handler {
  return (req, res) => {
    fn(RED, req, res).catch((err: Error) => res.status(500).json({ error: err.message }))
  }
}

async function check(RED: AdminRuntime, req: Request, res: Response): Promise<void> {
  const body = (req.body ?? {}) as TtnAppConfig & { id?: unknown; apiKey?: unknown; needs?: unknown }
  const id = typeof body.id === 'string' ? body.id : undefined
  const deployed = id ? (RED.nodes.getNode(id) as TtnAppNode | null) : null
  let apiKey = typeof body.apiKey === 'string' ? body.apiKey.trim() : ''
  if (!apiKey || apiKey === STORED_PASSWORD) {
    // The stored key: the deployed node's (environment variables already resolved), else the saved credential.
    apiKey = deployed?.type === 'ttn-app' ? (deployed.credentials?.apiKey ?? '') : ''
    if (!apiKey && id) apiKey = RED.nodes.getCredentials(id)?.apiKey ?? ''
  }
  apiKey = resolveEnv(apiKey)
  const tlsNode = typeof body.tlsConfig === 'string' && body.tlsConfig ? (RED.nodes.getNode(body.tlsConfig) as TlsConfigNode | null) : null
  let args: ReturnType<typeof clientArguments>
  try {
    args = clientArguments({ ...body, appId: typeof body.appId === 'string' ? body.appId : '' }, tlsNode ?? undefined)
  } catch (err) {
    res.json({ ok: false, steps: [{ name: 'dns', ok: false, message: (err as Error).message }] })
    return
  }
  const needs = needsFrom(RED, body.needs, id, args.options.recover !== undefined)
  const report = await checkConnection({ appId: String(body.appId ?? '').trim(), apiKey, address: args.address, options: args.options, needs })
  if (typeof body.tlsConfig === 'string' && body.tlsConfig && !tlsNode) {
    report.steps.unshift({ name: 'tls', ok: true, warning: true, message: RED._('ttnApi.check.tlsNotDeployed') })
  }
  res.json(report)
}

/** What the nodes need: as the editor counted them (undeployed changes included), else from the deployed flows. */
function needsFrom(RED: AdminRuntime, sent: unknown, id: string | undefined, recovery: boolean): Needs {
  if (sent && typeof sent === 'object') {
    const n = sent as Record<string, unknown>
    return combineNeeds([{ readTraffic: n.readTraffic === true, writeDownlinks: n.writeDownlinks === true, readDevices: n.readDevices === true }], recovery)
  }
  const list: Needs[] = []
  if (id) {
    RED.nodes.eachNode((n) => {
      if (n.app !== id || typeof n.type !== 'string') return
      list.push(needsOfType(n.type))
      if (n.type === 'ttn-uplink' && (n.details === true || n.details === 'true')) list.push({ readDevices: true })
    })
  }
  return combineNeeds(list, recovery)
}

async function devices(RED: AdminRuntime, req: Request, res: Response): Promise<void> {
  const empty = (reason: string, message: string, extra: Record<string, unknown> = {}) => res.json({ devices: [], total: 0, reason, message, ...extra })
  const node = RED.nodes.getNode(req.params.id) as TtnAppNode | null
  if (node?.type !== 'ttn-app') {
    empty('not-deployed', RED._('ttnApi.devices.notDeployed'))
    return
  }
  const client = node.client
  if (!client) {
    empty('config', RED._('ttnApi.devices.config', { error: node.configError ?? '' }))
    return
  }
  if (client.api === 'v2') {
    empty('v2', RED._('ttnApi.devices.v2'))
    return
  }
  const search = typeof req.query.search === 'string' ? req.query.search.trim().slice(0, 100) : ''
  const limit = clampInt(req.query.limit, 50, 1, DEVICE_PAGE_MAX)
  const page = clampInt(req.query.page, 1, 1, 1_000_000)
  try {
    const list = await client.http.listDevices(client.appId, { search, limit, page, fieldMask: ['name', 'last_seen_at'], order: 'device_id' })
    res.json({
      devices: list.devices.map((d) => ({ id: d.ids.device_id, name: d.name ?? '', lastSeen: d.last_seen_at ?? null })),
      total: list.total,
    })
  } catch (err) {
    if (err instanceof ApiError && err.kind === 'forbidden') {
      empty('rights', RED._('ttnApi.devices.rights', { right: rightLabel(err.missingRight ?? Right.DevicesRead) }), { detail: err.message })
    } else if (err instanceof ApiError && err.kind === 'unauthorized') {
      empty('key', err.message)
    } else if (err instanceof ApiError && (err.kind === 'network' || err.kind === 'timeout' || err.kind === 'tls')) {
      empty('offline', RED._('ttnApi.devices.offline', { reason: err.message }))
    } else {
      empty('api', RED._('ttnApi.devices.failed', { error: (err as Error).message }))
    }
  }
}

function clampInt(v: unknown, fallback: number, min: number, max: number): number {
  const n = Number(v)
  if (v === undefined || v === '' || !Number.isFinite(n)) return fallback
  return Math.min(max, Math.max(min, Math.floor(n)))
}

/** `${NAME}` in a key typed in the dialog reads the environment, as the deployed node does. */
function resolveEnv(value: string): string {
  const m = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(value)
  return m ? (process.env[m[1]] ?? '') : value
}
