/**
 * A V8 CPU profile of the measurement window only (node --cpu-prof would profile the whole process,
 * where Node-RED's start-up dominates). Written as a .cpuprofile that Chrome DevTools opens and
 * `node dist/bench/profile.js` summarises.
 */
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'

export class WindowProfiler {
  private session: Session | undefined

  constructor(private readonly file: string) {}

  start(): void {
    if (this.session) return
    const s = new Session()
    s.connect()
    s.post('Profiler.enable')
    s.post('Profiler.start')
    this.session = s
  }

  stop(): Promise<void> {
    const s = this.session
    this.session = undefined
    if (!s) return Promise.resolve()
    return new Promise((resolve, reject) => {
      s.post('Profiler.stop', (err, result) => {
        s.disconnect()
        if (err) reject(err)
        else {
          writeFileSync(this.file, JSON.stringify(result.profile))
          resolve()
        }
      })
    })
  }
}
