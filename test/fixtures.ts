/** The official example messages from ../shared/fixtures, loaded for tests. */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/** shared/ sits beside the repository (../shared from the repo root). */
export const FIXTURE_DIR = join(__dirname, '..', '..', '..', 'shared', 'fixtures')

export function fixture<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, name), 'utf8')) as T
}
