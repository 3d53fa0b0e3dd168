/**
 * Mocha root hook plugin (loaded through .mocharc.json "require"): watches everything the test run
 * writes to stdout and stderr (mocha, Node-RED's log, our nodes' warnings and errors) and fails the
 * run if an API key ever shows up there. Every key the tests use has the real keys' shape
 * (NNSXS.<id>.<secret>), so one pattern finds them all.
 */
const KEY_PATTERN = /NNSXS\.[A-Z0-9]+\.[A-Z0-9]+/g
const leaks: string[] = []

/** The API-key-shaped strings in a piece of output. */
export function findKeys(text: string): string[] {
  return text.match(KEY_PATTERN) ?? []
}

function guard(stream: NodeJS.WriteStream, name: string): void {
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : ''
    const found = findKeys(text)
    if (found.length > 0) {
      for (const key of found) leaks.push(`${name}: ${text.replace(KEY_PATTERN, '<key>').trim().slice(0, 200)} (key ${key.slice(0, 8)}...)`)
      // Redact what reaches the terminal, so the key does not leak through this report either.
      return write(text.replace(KEY_PATTERN, 'NNSXS.<redacted>'), ...rest)
    }
    return write(chunk, ...rest)
  }) as typeof stream.write
}

guard(process.stdout, 'stdout')
guard(process.stderr, 'stderr')

/** For tests: what the guard has seen so far. */
export function leakedKeys(): readonly string[] {
  return leaks
}

export const mochaHooks = {
  afterAll(): void {
    if (leaks.length > 0) {
      throw new Error(`An API key appeared in the test run's output ${leaks.length} time(s):\n${leaks.slice(0, 10).join('\n')}`)
    }
  },
}
