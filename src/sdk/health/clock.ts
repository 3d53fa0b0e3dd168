/**
 * A clock for the uplink path that costs a variable read: Date.now() is a system call on some
 * machines (130-190 ns measured on the team's VMs, a third of the tracker's whole per-uplink work).
 * While held, a timer refreshes the value every RESOLUTION_MS; silence is judged in seconds, so that
 * resolution is plenty. Unheld, it is Date.now() itself.
 */
export const RESOLUTION_MS = 20

let value = Date.now()
let timer: NodeJS.Timeout | undefined
let holders = 0

export function coarseNow(): number {
  return timer ? value : Date.now()
}

/** Keep the coarse clock ticking; returns the function that lets it go. */
export function holdCoarseClock(): () => void {
  if (holders++ === 0) {
    value = Date.now()
    timer = setInterval(() => {
      value = Date.now()
    }, RESOLUTION_MS)
    timer.unref?.()
  }
  let released = false
  return () => {
    if (released) return
    released = true
    if (--holders === 0 && timer) {
      clearInterval(timer)
      timer = undefined
    }
  }
}
