/**
 * The Storage Integration's response body, parsed as it arrives: a sequence of JSON objects separated
 * by "\n" (any Accept) or "\n\n" (Accept: text/event-stream, no `data:` prefix). A backlog can be
 * large, so objects are handed out one by one while the body is still streaming, never buffered whole.
 * The scanner tracks strings and nesting, so it does not care how objects are separated or split
 * across chunks (even inside a multi-byte character: the caller decodes with a streaming TextDecoder).
 */

export class StreamFormatError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'StreamFormatError'
  }
}

/** One object of the stream: a stored message, or an error the server sent after streaming began. */
export type StreamItem = { result: Record<string, unknown> } | { error: { code?: number; message?: string; details?: unknown[] } }

/** Largest single object accepted (a stored uplink is a few kB): protects memory from a broken stream. */
const MAX_OBJECT_CHARS = 8 * 1024 * 1024

export class JsonObjectStream {
  private buf = ''
  /** Next character to scan in buf. */
  private pos = 0
  /** Start of the object being scanned, or -1 between objects. */
  private start = -1
  private depth = 0
  private inString = false
  private escaped = false

  /** Feed decoded text; returns the objects completed by it, in order. */
  push(text: string): unknown[] {
    this.buf += text
    const out: unknown[] = []
    const buf = this.buf
    for (let i = this.pos; i < buf.length; i++) {
      const c = buf.charCodeAt(i)
      if (this.start < 0) {
        // Between objects: only white space (the delimiters) may appear.
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue
        if (c !== 0x7b /* { */) {
          throw new StreamFormatError(`unexpected ${JSON.stringify(buf.slice(i, i + 20))} between JSON objects`)
        }
        this.start = i
        this.depth = 1
        continue
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false
        else if (c === 0x5c /* \ */) this.escaped = true
        else if (c === 0x22 /* " */) this.inString = false
        continue
      }
      if (c === 0x22) this.inString = true
      else if (c === 0x7b || c === 0x5b /* [ */) this.depth++
      else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
        if (--this.depth === 0) {
          const text = buf.slice(this.start, i + 1)
          try {
            out.push(JSON.parse(text))
          } catch (err) {
            throw new StreamFormatError(`invalid JSON object in the stream: ${(err as Error).message}`)
          }
          this.start = -1
        }
      }
    }
    // Keep only the unfinished object (if any) for the next chunk.
    const keep = this.start >= 0 ? this.start : buf.length
    this.buf = buf.slice(keep)
    this.pos = this.buf.length
    if (this.start >= 0) this.start = 0
    if (this.buf.length > MAX_OBJECT_CHARS) throw new StreamFormatError(`an object in the stream exceeds ${MAX_OBJECT_CHARS} characters`)
    return out
  }

  /** The body ended: throws when it stopped in the middle of an object (a truncated response). */
  end(): void {
    if (this.start >= 0) throw new StreamFormatError('the response ended in the middle of a message (truncated stream)')
  }
}

/** Check that a parsed object is `{"result": {...}}` or `{"error": {...}}`. */
export function streamItem(value: unknown): StreamItem {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const v = value as Record<string, unknown>
    if (v.result && typeof v.result === 'object' && !Array.isArray(v.result)) return { result: v.result as Record<string, unknown> }
    if (v.error && typeof v.error === 'object' && !Array.isArray(v.error)) return { error: v.error as { code?: number; message?: string } }
  }
  throw new StreamFormatError(`expected {"result": {...}} or {"error": {...}}, got ${JSON.stringify(value).slice(0, 80)}`)
}
