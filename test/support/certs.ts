/**
 * Certificates made at test time with openssl: a CA, a server certificate for 127.0.0.1/localhost
 * (and one for a wrong host name), and a client certificate for mutual TLS. Nothing is checked in.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestPki {
  dir: string
  caCert: string
  caPath: string
  serverKey: string
  serverCert: string
  serverKeyPath: string
  serverCertPath: string
  /** A server certificate valid only for wrong.example (host name mismatch on 127.0.0.1). */
  wrongHostKey: string
  wrongHostCert: string
  clientKey: string
  clientCert: string
  remove(): void
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: 'pipe' })
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer }
    if (e.code === 'ENOENT') throw new Error('openssl is not installed: apt-get install openssl')
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString() ?? String(err)}`)
  }
}

function issue(dir: string, name: string, subject: string, ext: string): void {
  writeFileSync(join(dir, `${name}.ext`), ext)
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir)
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-sha256', '-extfile', `${name}.ext`], dir)
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'ttn-pki-'))
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=ttn-test-ca'], dir)
  issue(dir, 'server', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  issue(dir, 'wrong', '/CN=wrong.example', 'subjectAltName=DNS:wrong.example\nextendedKeyUsage=serverAuth\n')
  issue(dir, 'client', '/CN=node-red-client', 'extendedKeyUsage=clientAuth\n')
  const read = (f: string) => readFileSync(join(dir, f), 'utf8')
  return {
    dir,
    caCert: read('ca.crt'),
    caPath: join(dir, 'ca.crt'),
    serverKey: read('server.key'),
    serverCert: read('server.crt'),
    serverKeyPath: join(dir, 'server.key'),
    serverCertPath: join(dir, 'server.crt'),
    wrongHostKey: read('wrong.key'),
    wrongHostCert: read('wrong.crt'),
    clientKey: read('client.key'),
    clientCert: read('client.crt'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}
