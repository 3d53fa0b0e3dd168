/**
 * The LoRaWAN application port (FPort) rule, in a module of its own so the editor's browser script
 * (resources/ttn-rules.js) carries it without the payload code.
 */

export const MIN_PORT = 1
export const MAX_PORT = 223

/**
 * The port as a number when it is an application port (1-223, given as a number or as digits, as the
 * editor stores it), else undefined. 0 is for MAC commands, 224 the test port, 225-255 are reserved.
 */
export function applicationPort(port: unknown): number | undefined {
  const n = typeof port === 'string' && /^\s*\d+\s*$/.test(port) ? Number(port) : port
  return typeof n === 'number' && Number.isInteger(n) && n >= MIN_PORT && n <= MAX_PORT ? n : undefined
}
