/**
 * The network steps of a connection check, each on its own so a failure names its layer: the name
 * resolves (DNS), TCP reaches the port, TLS with a certificate valid for the host.
 */
import { lookup } from 'node:dns/promises'
import { isIP, Socket } from 'node:net'
import { connect as tlsConnect, type PeerCertificate } from 'node:tls'
import type { TlsOptions } from '../client'
import type { CheckStep } from './types'

const TIMEOUT_MS = 5000

export async function dnsStep(host: string): Promise<CheckStep> {
  if (isIP(host)) return { name: 'dns', ok: true, message: `${host} is an IP address: nothing to resolve.` }
  try {
    const addresses = await lookup(host, { all: true })
    return { name: 'dns', ok: true, message: `${host} resolves to ${addresses.map((a) => a.address).slice(0, 3).join(', ')}.` }
  } catch (err) {
    const code = (err as { code?: string }).code ?? (err as Error).message
    return {
      name: 'dns',
      ok: false,
      message: `${host} does not resolve (${code}): check the server address for typos (The Things Network: eu1, nam1 or au1.cloud.thethings.network) and this machine's DNS.`,
    }
  }
}

export function tcpStep(host: string, port: number): Promise<CheckStep> {
  return new Promise((resolve) => {
    const socket = new Socket()
    const done = (step: CheckStep) => {
      socket.destroy()
      resolve(step)
    }
    socket.setTimeout(TIMEOUT_MS, () =>
      done({ name: 'tcp', ok: false, message: `No answer from ${host}:${port} within ${TIMEOUT_MS / 1000} s: a firewall may block port ${port}, or the port is wrong (8883 TLS, 1883 plain).` }),
    )
    socket.once('error', (err: Error & { code?: string }) => {
      const refused = err.code === 'ECONNREFUSED'
      done({
        name: 'tcp',
        ok: false,
        message: refused
          ? `${host} refused a connection on port ${port}: nothing listens there; The Things Stack uses 8883 (TLS) and 1883 (plain).`
          : `Cannot reach ${host}:${port} (${err.code ?? err.message}): check the network and firewall.`,
      })
    })
    socket.connect(port, host, () => done({ name: 'tcp', ok: true, message: `${host}:${port} accepts connections.` }))
  })
}

export function tlsStep(host: string, port: number, tls: TlsOptions): Promise<CheckStep> {
  return new Promise((resolve) => {
    const servername = tls.servername ?? (isIP(host) ? undefined : host)
    const socket = tlsConnect({
      host,
      port,
      servername,
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      passphrase: tls.passphrase,
      // Verify ourselves below, so an unverifiable certificate is described instead of only refused.
      rejectUnauthorized: false,
    })
    const done = (step: CheckStep) => {
      socket.destroy()
      resolve(step)
    }
    socket.setTimeout(TIMEOUT_MS, () => done({ name: 'tls', ok: false, message: `The TLS handshake with ${host}:${port} did not finish within ${TIMEOUT_MS / 1000} s: is this port TLS (8883) or plain (1883)?` }))
    socket.once('error', (err: Error & { code?: string }) =>
      done({
        name: 'tls',
        ok: false,
        message: `TLS with ${host}:${port} failed (${err.code ?? err.message}): if this port is plain MQTT (1883), turn TLS off or use port 8883.`,
      }),
    )
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate()
      const about = describe(cert)
      if (socket.authorized) {
        done({ name: 'tls', ok: true, message: `The certificate is valid for ${servername ?? host}${about}.` })
        return
      }
      const reason = String(socket.authorizationError ?? 'unknown reason')
      if (tls.rejectUnauthorized === false) {
        done({ name: 'tls', ok: true, warning: true, message: `The certificate does not verify (${reason}${about}), and verification is turned off: use this only for private test servers.` })
        return
      }
      const what = /ALTNAME|HOSTNAME/i.test(reason)
        ? `it is not for ${servername ?? host}: connect with the host name the certificate names`
        : /EXPIRED/i.test(reason)
          ? 'it has expired: the server must renew it'
          : 'it is not signed by a CA this machine trusts: for a private server, give its CA in the TLS configuration'
      done({ name: 'tls', ok: false, message: `The certificate of ${host}:${port} does not verify (${reason}): ${what}${about}.` })
    })
  })
}

function describe(cert: PeerCertificate | undefined): string {
  if (!cert?.valid_to) return ''
  const issuer = cert.issuer?.O ?? cert.issuer?.CN
  return `; issued by ${issuer ?? 'an unnamed issuer'}, valid until ${new Date(cert.valid_to).toISOString().slice(0, 10)}`
}
