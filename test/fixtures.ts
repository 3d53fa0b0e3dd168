/** The official example messages in test/fixtures/ (see its README for where each comes from), loaded for tests. */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/** This file runs from dist/test/; the JSON stays in the source tree. */
export const FIXTURE_DIR = join(__dirname, '..', '..', 'test', 'fixtures')

export function fixture<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, name), 'utf8')) as T
}
