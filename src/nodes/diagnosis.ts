/**
 * The config node's background diagnosis: The Things Stack answers a wrong key, a key of another
 * application, a typo in the ID or tenant with the same CONNACK 5, and a key without traffic rights with
 * silence. Once per config node (per deploy), after the first refusal, and once after the first
 * successful connection, the connection check of the SDK (src/sdk/diagnose, without the network steps)
 * asks the HTTP API, and the precise cause goes to the status of every node that uses the connection
 * and to the log (the translated lead-in, then the SDK's English cause): "the key belongs to application other-app", "the key lacks Read application traffic",
 * "no application my-app on nam1: it is on eu1". An API that cannot be reached says nothing about the key:
 * then the generic hint stays. No key material in any message (the SDK's messages never carry it).
 */
import type { ConnectionStatus } from '../sdk/client'
import { type CheckInput, type CheckReport, checkConnection, firstProblem } from '../sdk/diagnose'
import type { NodeRedRuntime, NodeStatus } from './red'

export interface DiagnosisHost {
  RED: NodeRedRuntime
  /** What to check with (null when the configuration cannot be checked: v2, generic broker without an API address). */
  input(): CheckInput | undefined
  error(text: string): void
  warn(text: string): void
  /** Show the status again (the refined one replaces the generic one). */
  refresh(): void
}

export class RuntimeDiagnosis {
  private refusalCause: string | undefined
  private connectedCause: string | undefined
  private ranRefusal = false
  private ranConnected = false
  private closed = false

  constructor(private readonly host: DiagnosisHost) {}

  /** Called for every client status; starts a check the first time a refusal or a connection is seen. */
  observe(s: ConnectionStatus): void {
    if (this.closed) return
    if (s.state === 'not-authorized' && !this.ranRefusal) {
      this.ranRefusal = true
      this.run((report) => {
        const cause = firstProblem(report, ['mqtt'])
        if (!cause?.summary) return
        this.refusalCause = cause.summary
        this.host.error(`${this.host.RED._('ttnApi.errors.refusedBecause')} ${cause.message}`)
      })
    } else if (s.state === 'connected' && !this.ranConnected) {
      this.ranConnected = true
      this.run((report) => {
        const cause = firstProblem(report, ['mqtt'])
        if (!cause?.summary) return
        this.connectedCause = cause.summary
        this.host.warn(`${this.host.RED._('ttnApi.errors.connectedBut')} ${cause.message}`)
      })
    }
  }

  /** The status to show: the generic one, refined by a cause when one is known for this state. */
  refine(s: ConnectionStatus, generic: NodeStatus | Record<string, never>): NodeStatus | Record<string, never> {
    if (s.state === 'not-authorized' && this.refusalCause) {
      return { fill: 'red', shape: 'ring', text: `${this.host.RED._('ttnApi.status.notAuthorizedBecause')}: ${this.refusalCause}` }
    }
    if (s.state === 'connected' && s.recovering === undefined && this.connectedCause) {
      return { fill: 'yellow', shape: 'dot', text: `${this.host.RED._('ttnApi.status.connectedBut')} ${this.connectedCause}` }
    }
    return generic
  }

  close(): void {
    this.closed = true
  }

  private run(report: (r: CheckReport) => void): void {
    const input = this.host.input()
    if (!input) return
    checkConnection(input, { network: false }).then(
      (r) => {
        if (this.closed) return
        report(r)
        this.host.refresh()
      },
      () => undefined,
    )
  }
}
