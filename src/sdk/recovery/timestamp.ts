/**
 * received_at as a canonical string: UTC, `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`. The server prints RFC 3339
 * with up to 9 fractional digits and drops trailing zeros ("…05.1Z" is later than "…05.12Z" as text but
 * earlier in time), so raw strings do not sort; canonical ones do, with a plain string comparison,
 * which keeps the per-uplink cost on the live path at one regular expression.
 */

const ZULU = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/
const OFFSET = /^(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)$/

/** The canonical form of an RFC 3339 timestamp, or undefined when `value` is not one. */
export function canonicalTime(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined
  const z = ZULU.exec(value)
  if (z) return `${z[1]}.${(z[2] ?? '').padEnd(9, '0')}Z`
  const m = OFFSET.exec(value)
  if (!m) return undefined
  const ms = Date.parse(`${m[1]}T${m[2]}${m[4].toUpperCase()}`)
  if (!Number.isFinite(ms)) return undefined
  return `${new Date(ms).toISOString().slice(0, 19)}.${(m[3] ?? '').padEnd(9, '0')}Z`
}

/** Milliseconds since the epoch of a canonical timestamp (sub-millisecond digits dropped). */
export function timeToMs(canonical: string): number {
  return Date.parse(`${canonical.slice(0, 23)}Z`)
}

/** The canonical timestamp of a local clock reading. */
export function msToTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000000Z`
}

/**
 * One nanosecond earlier. Paging by `after` uses it so that a page boundary that splits uplinks with
 * the same received_at loses none of them, whether the server reads `after` as > or as >=.
 */
export function oneNanosecondBefore(canonical: string): string {
  const seconds = BigInt(Date.parse(`${canonical.slice(0, 19)}Z`) / 1000)
  const total = seconds * 1_000_000_000n + BigInt(canonical.slice(20, 29)) - 1n
  const s = total / 1_000_000_000n
  const ns = total % 1_000_000_000n
  return `${new Date(Number(s) * 1000).toISOString().slice(0, 19)}.${ns.toString().padStart(9, '0')}Z`
}

/** "2 h 5 min", "40 s": durations in warnings. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s} s`
  const min = Math.round(s / 60)
  if (min < 60) return `${min} min`
  const h = Math.floor(min / 60)
  if (h < 48) return min % 60 ? `${h} h ${min % 60} min` : `${h} h`
  const d = Math.floor(h / 24)
  return h % 24 ? `${d} days ${h % 24} h` : `${d} days`
}
