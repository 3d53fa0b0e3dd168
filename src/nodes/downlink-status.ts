/**
 * What a ttn-downlink node shows: its downlinks' last outcome, as core nodes show theirs (`ack 10:33`
 * green, `queued` yellow, `failed: too long` red), how many wait for the connection while offline, how
 * many are held for a next uplink, and the connection state of its ttn-app when there is nothing else
 * to say. One object per node; ttn-app hands it the connection status through `connectionUser`.
 */
import type { DownlinkOutcome } from '../sdk/downlink-tracker'
import type { NodeInstance, NodeRedRuntime, NodeStatus } from './red'

type Status = NodeStatus | Record<string, never>

const SHORT_REASONS: Record<string, string> = {
  application_downlink_too_long: 'ttn.reason.tooLong',
  no_device_session: 'ttn.reason.notJoined',
  downlink_queue_capacity: 'ttn.reason.queueFull',
}

/** hh:mm in the server's local time, as the debug sidebar shows times. */
export function clock(at: Date): string {
  return `${String(at.getHours()).padStart(2, '0')}:${String(at.getMinutes()).padStart(2, '0')}`
}

/**
 * At most one status update per this many ms, the last one always shown: at thousands of downlinks a
 * second a status per step would cost more than the downlink (and flood the editor's connection).
 */
export const STATUS_INTERVAL_MS = 100

export class DownlinkStatusView {
  private connection: Status = {}
  private last: Status | undefined
  /** The latest outcome, turned into a status only when it is shown. */
  private lastOutcome: { o: DownlinkOutcome; at: number } | undefined
  private lastRender = 0
  private renderTimer: NodeJS.Timeout | undefined
  private heldCount = 0
  private waitingCount = 0
  private warning: string | undefined

  constructor(
    private readonly RED: NodeRedRuntime,
    private readonly node: NodeInstance,
    private readonly isConnected: () => boolean,
  ) {}

  /** Give this to ttn-app's register()/deregister() in place of the node: the app's status comes here. */
  connectionUser(): NodeInstance {
    return { id: this.node.id, status: (s: Status) => this.setConnection(s) } as unknown as NodeInstance
  }

  setConnection(s: Status): void {
    this.connection = s
    this.render()
  }

  /** A standing problem with the node's settings (shown while connected, in place of outcomes). */
  setWarning(text: string | undefined): void {
    this.warning = text
    this.render()
  }

  held(delta: number): void {
    this.heldCount = Math.max(0, this.heldCount + delta)
    this.render()
  }

  waiting(delta: number): void {
    this.waitingCount = Math.max(0, this.waitingCount + delta)
    this.render()
  }

  /** The latest step of any downlink of this node. */
  outcome(o: DownlinkOutcome, at = Date.now()): void {
    this.lastOutcome = { o, at }
    this.last = undefined
    this.render()
  }

  /** A queue listed or cleared (msg.action). */
  action(text: string, at = new Date()): void {
    this.lastOutcome = undefined
    this.last = { fill: 'green', shape: 'ring', text: `${text} ${clock(at)}` }
    this.render()
  }

  /** A queue action that failed (the reason goes to Catch). */
  failure(text: string, at = new Date()): void {
    this.lastOutcome = undefined
    this.last = { fill: 'red', shape: 'ring', text: `${text} ${clock(at)}` }
    this.render()
  }

  /** The node closes: no update after that. */
  dispose(): void {
    if (this.renderTimer) clearTimeout(this.renderTimer)
    this.renderTimer = undefined
  }

  private statusOf(o: DownlinkOutcome, time: string): NodeStatus {
    const RED = this.RED
    const word = RED._(`ttn.outcome.${o.status}`)
    if (o.retryInMs !== undefined && o.attempt !== undefined && o.attempts !== undefined) {
      const text = RED._('ttn.status.retrying', { status: word, next: o.attempt + 1, attempts: o.attempts, delay: Math.round(o.retryInMs / 100) / 10 })
      return { fill: 'yellow', shape: 'ring', text }
    }
    const plain = (fill: NodeStatus['fill'], shape: NodeStatus['shape']): NodeStatus => ({ fill, shape, text: RED._('ttn.status.outcome', { status: word, time }) })
    switch (o.status) {
      case 'queued':
        return plain('yellow', 'ring')
      case 'sent':
        return o.confirmed ? plain('yellow', 'dot') : plain('green', 'dot')
      case 'ack':
        return plain('green', 'dot')
      case 'failed': {
        const name = o.error?.name ?? o.reason ?? ''
        const key = SHORT_REASONS[name]
        const reason = key ? RED._(key) : name || RED._('ttn.reason.unknown')
        return { fill: 'red', shape: 'dot', text: RED._('ttn.status.outcomeReason', { status: word, reason, time }) }
      }
      case 'replaced':
        return plain('grey', 'ring')
      case 'cleared':
        return plain('green', 'ring')
      default:
        // nack, timeout, expired, invalidated
        return plain('red', 'ring')
    }
  }

  private render(): void {
    if (this.renderTimer) return
    const wait = this.lastRender + STATUS_INTERVAL_MS - Date.now()
    if (wait > 0) {
      this.renderTimer = setTimeout(() => {
        this.renderTimer = undefined
        this.show()
      }, wait)
      return
    }
    this.show()
  }

  private show(): void {
    this.lastRender = Date.now()
    if (this.lastOutcome) {
      this.last = this.statusOf(this.lastOutcome.o, clock(new Date(this.lastOutcome.at)))
      this.lastOutcome = undefined
    }
    this.node.status(this.current())
  }

  private current(): Status {
    const RED = this.RED
    const withHeld = (s: Status): Status =>
      this.heldCount > 0 && 'text' in s && s.text
        ? { ...s, text: RED._('ttn.status.withHeld', { text: RED._(s.text), count: this.heldCount }) }
        : s
    if (!this.isConnected()) {
      if (this.waitingCount > 0) return withHeld({ fill: 'yellow', shape: 'ring', text: RED._('ttn.status.waiting', { count: this.waitingCount }) })
      return withHeld(this.connection)
    }
    if (this.warning) return { fill: 'red', shape: 'ring', text: this.warning }
    if (this.last) return withHeld(this.last)
    if (this.heldCount > 0) return { fill: 'blue', shape: 'ring', text: RED._('ttn.status.held', { count: this.heldCount }) }
    return this.connection
  }
}
