/**
 * The Storage Integration address rule, apart from the HTTP client (which needs Node) so the editor's
 * browser script (resources/ttn-rules.js) carries the same check.
 */

/** Validate a base URL and make it the server root (no trailing slash, no /api/v3). */
export function normalizeBaseUrl(value: string): string {
  let url: URL
  try {
    url = new URL(value.trim())
  } catch {
    throw new Error(`The Storage Integration address "${value}" is not a URL: give e.g. https://eu1.cloud.thethings.network.`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`The Storage Integration address "${value}" must start with https:// (or http:// for a local test server).`)
  }
  if (url.search || url.hash) throw new Error(`The Storage Integration address "${value}" must not have a query or fragment.`)
  const path = url.pathname.replace(/\/+$/, '').replace(/\/api\/v3$/, '')
  return `${url.origin}${path}`
}
