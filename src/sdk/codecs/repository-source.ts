/**
 * Where the Device Repository's files come from: a local folder (a clone of
 * TheThingsNetwork/lorawan-devices), or its public raw files fetched on demand and kept in a disk
 * cache, so a user needs no clone. Both answer `read(path)` with the text, or undefined when the file
 * does not exist.
 */
import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { homedir, tmpdir } from 'node:os'
import { dirname, join, resolve, sep } from 'node:path'

/** The repository's public location: its raw files on GitHub, master branch. */
export const DEVICE_REPOSITORY_URL =
  'https://raw.githubusercontent.com/TheThingsNetwork/lorawan-devices/master/'

export interface RepositorySource {
  /** For messages: the folder or the URL. */
  readonly location: string
  read(path: string): Promise<string | undefined>
}

/** Paths come from uplinks and YAML: plain relative paths inside vendor/, nothing else. */
export function checkPath(path: string): string {
  const parts = path.split('/')
  if (
    path.startsWith('/') ||
    parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\\') || p.includes('\0'))
  ) {
    throw new Error(
      `Device Repository: refusing the path ${JSON.stringify(path)}: only plain paths inside the repository are read`,
    )
  }
  return path
}

const MAX_FILE_BYTES = 4 * 1024 * 1024

export class FolderSource implements RepositorySource {
  readonly location: string
  constructor(dir: string) {
    this.location = resolve(dir)
  }
  async read(path: string): Promise<string | undefined> {
    const file = join(this.location, ...checkPath(path).split('/'))
    try {
      const s = await stat(file)
      if (!s.isFile()) return undefined
      if (s.size > MAX_FILE_BYTES)
        throw new Error(`Device Repository: ${file} is ${s.size} bytes, more than the ${MAX_FILE_BYTES} read`)
      return await readFile(file, 'utf8')
    } catch (err) {
      if (
        (err as NodeJS.ErrnoException).code === 'ENOENT' ||
        (err as NodeJS.ErrnoException).code === 'ENOTDIR'
      )
        return undefined
      throw err
    }
  }
}

export interface OnlineSourceOptions {
  /** Folder for the disk cache (default: ~/.cache/node-red-contrib-things-stack/device-repository). */
  cacheDir?: string
  /** How long a cached file is used before it is fetched again, in ms (default 24 h). */
  maxAgeMs?: number
  /** Time limit per request, in ms (default 15 s). */
  requestTimeoutMs?: number
}

export function defaultCacheDir(): string {
  const home = homedir()
  return home
    ? join(home, '.cache', 'node-red-contrib-things-stack', 'device-repository')
    : join(tmpdir(), 'node-red-contrib-things-stack-device-repository')
}

export class OnlineSource implements RepositorySource {
  readonly location: string
  private readonly cacheRoot: string
  private readonly maxAgeMs: number
  private readonly requestTimeoutMs: number
  /** One request per file at a time, however many uplinks ask. */
  private readonly inFlight = new Map<string, Promise<string | undefined>>()

  constructor(baseUrl: string, options: OnlineSourceOptions = {}) {
    const url = new URL(baseUrl)
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new Error(`Device Repository: ${baseUrl} is not an http(s) URL`)
    if (!url.pathname.endsWith('/')) url.pathname += '/'
    this.location = url.toString()
    // One cache folder per base URL, so two sources never mix their files.
    const key = createHash('sha256').update(this.location).digest('hex').slice(0, 16)
    this.cacheRoot = join(options.cacheDir ?? defaultCacheDir(), key)
    this.maxAgeMs = options.maxAgeMs ?? 24 * 60 * 60 * 1000
    this.requestTimeoutMs = options.requestTimeoutMs ?? 15_000
  }

  read(path: string): Promise<string | undefined> {
    checkPath(path)
    let p = this.inFlight.get(path)
    if (!p) {
      p = this.readThrough(path).finally(() => this.inFlight.delete(path))
      this.inFlight.set(path, p)
    }
    return p
  }

  private cacheFile(path: string): string {
    const file = join(this.cacheRoot, ...path.split('/'))
    if (!file.startsWith(this.cacheRoot + sep)) throw new Error(`Device Repository: bad path ${path}`)
    return file
  }

  private async readThrough(path: string): Promise<string | undefined> {
    const file = this.cacheFile(path)
    let cached: string | undefined
    try {
      const s = await stat(file)
      cached = await readFile(file, 'utf8')
      if (Date.now() - s.mtimeMs < this.maxAgeMs) return cached
    } catch {
      cached = undefined
    }
    const url = new URL(path, this.location).toString()
    let response: Response
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(this.requestTimeoutMs), redirect: 'follow' })
    } catch (err) {
      // Offline: a stale copy is better than nothing; the next read tries again.
      if (cached !== undefined) return cached
      throw new Error(`Device Repository: could not fetch ${url}: ${(err as Error).message}`)
    }
    if (response.status === 404) {
      await response.body?.cancel()
      await rm(file, { force: true })
      return undefined
    }
    if (!response.ok) {
      await response.body?.cancel()
      if (cached !== undefined) return cached
      throw new Error(`Device Repository: ${url} answered ${response.status} ${response.statusText}`)
    }
    const text = await response.text()
    if (text.length > MAX_FILE_BYTES)
      throw new Error(`Device Repository: ${url} is larger than the ${MAX_FILE_BYTES} bytes read`)
    await mkdir(dirname(file), { recursive: true })
    // Write then rename, so a reader never sees half a file.
    const partial = `${file}.${process.pid}.partial`
    await writeFile(partial, text)
    await rename(partial, file)
    return text
  }
}
