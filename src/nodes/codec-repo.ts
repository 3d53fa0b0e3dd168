/**
 * What ttn-app offers the codec nodes: the Device Repository it points at (a folder, or the public
 * repository online with a download cache in the Node-RED user directory) and the sandbox limits
 * for every codec of its application. The repository is opened on first use, so an application
 * that decodes nothing locally does no work for it.
 */
import { join } from 'node:path'
import { type DeviceRepository, openDeviceRepository } from '../sdk/codecs'
import { DEVICE_REPOSITORY_URL } from '../sdk/codecs/repository-source'
import type { SandboxLimits } from '../sdk/codecs/types'
import type { NodeInstance, NodeRedRuntime } from './red'

export interface CodecRepoConfig {
  /** A folder holding a clone of the Device Repository; empty: the online repository. */
  codecRepo?: string
  /** The online repository's raw-file base URL; empty: the public one. */
  codecRepoUrl?: string
  /** Time limit per codec call, ms. */
  codecTimeout?: number | string
  /** Memory limit per codec, MiB. */
  codecMemory?: number | string
}

export interface CodecHost {
  /** The repository, opened on first call; rejects with a message for the user when it cannot be. */
  deviceRepository(): Promise<DeviceRepository>
  codecLimits: SandboxLimits
  /** Where the repository is, for messages. */
  codecRepoLocation: string
}

function positive(value: unknown): number | undefined {
  const n = Number(value)
  return value !== '' && value !== undefined && Number.isFinite(n) && n > 0 ? n : undefined
}

export function codecLimitsOf(config: CodecRepoConfig): SandboxLimits {
  const limits: SandboxLimits = {}
  const timeout = positive(config.codecTimeout)
  const memory = positive(config.codecMemory)
  if (timeout) limits.timeoutMs = timeout
  if (memory) limits.memoryLimitBytes = memory * 1024 * 1024
  return limits
}

/** Give the config node its CodecHost face, and close the repository with the node. */
export function attachCodecHost(
  RED: NodeRedRuntime,
  node: NodeInstance & Partial<CodecHost>,
  config: CodecRepoConfig,
): void {
  const folder = config.codecRepo?.trim()
  const url = config.codecRepoUrl?.trim() || DEVICE_REPOSITORY_URL
  const limits = codecLimitsOf(config)
  let opening: Promise<DeviceRepository> | undefined
  node.codecLimits = limits
  node.codecRepoLocation = folder || url
  node.deviceRepository = () => {
    if (!opening) {
      const userDir = RED.settings?.userDir
      const cacheDir = userDir ? join(userDir, '.ttn-device-repository') : undefined
      opening = openDeviceRepository(folder || url, { ...limits, ...(cacheDir ? { cacheDir } : {}) })
      opening.catch(() => {
        opening = undefined
      })
    }
    return opening
  }
  node.on('close', (_removed, done) => {
    opening?.then(
      (r) => r.close(),
      () => undefined,
    )
    opening = undefined
    done()
  })
}
