/**
 * The ttn-uplink node's status: the connection's, and while connected the time of the last uplink
 * ("connected · last 10:33"), so "connected, but nothing arrives" shows at a glance.
 *
 * Per uplink this costs a variable read and one comparison: the time comes from a clock that one timer
 * sets once a second for every uplink node (Date.now() itself costs ~100 ns, 0.5% of an uplink's way
 * through Node-RED). The status is redrawn only when the minute it shows changes: every node.status() is
 * a message to each open editor, and one per uplink would flood them at high rates while showing
 * nothing new (the text has minute resolution).
 */
import type { NodeInstance, NodeRedRuntime, NodeStatus } from './red'

const MINUTE_MS = 60_000
const CONNECTED = 'ttn.status.connected'

/** Local time of day, hh:mm, as the Node-RED host's clock shows it (as core nodes do). */
function clock(at: number): string {
  const d = new Date(at)
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`
}

/** The shared coarse clock: runs while any uplink node exists, and never keeps the process alive. */
const clockUsers = new Set<UplinkStatus>()
let coarseNow = Date.now()
let ticker: NodeJS.Timeout | undefined

function useClock(user: UplinkStatus): void {
  clockUsers.add(user)
  if (ticker) return
  coarseNow = Date.now()
  ticker = setInterval(() => {
    coarseNow = Date.now()
  }, 1000)
  ticker.unref()
}

function releaseClock(user: UplinkStatus): void {
  clockUsers.delete(user)
  if (clockUsers.size === 0 && ticker) {
    clearInterval(ticker)
    ticker = undefined
  }
}

export class UplinkStatus {
  private connection: NodeStatus | Record<string, never> = {}
  private lastUplinkAt: number | undefined
  private shownMinute = -1

  constructor(
    private readonly RED: NodeRedRuntime,
    private readonly node: Pick<NodeInstance, 'status'>,
  ) {
    useClock(this)
  }

  /** The node is closing: it no longer needs the clock. */
  dispose(): void {
    releaseClock(this)
  }

  /** The config node's status for every user (connecting, connected, reconnecting, ...). */
  connectionChanged(status: NodeStatus | Record<string, never>): void {
    this.connection = status
    this.render()
  }

  uplinkArrived(now: number = coarseNow): void {
    this.lastUplinkAt = now
    if (Math.floor(now / MINUTE_MS) !== this.shownMinute) this.render()
  }

  private render(): void {
    const c = this.connection
    if (this.lastUplinkAt !== undefined && 'text' in c && c.text === CONNECTED) {
      this.shownMinute = Math.floor(this.lastUplinkAt / MINUTE_MS)
      this.node.status({ ...c, text: this.RED._('ttn.status.connectedLast', { time: clock(this.lastUplinkAt) }) })
    } else {
      // Not connected (or nothing received yet): the connection state alone; the minute is redrawn on reconnect.
      this.shownMinute = -1
      this.node.status(c)
    }
  }
}
