/**
 * A throwaway self-signed certificate for 127.0.0.1 (ECDSA P-256, one day), made with the `openssl`
 * command line for the TLS contestants of the benchmarks. Rejects when openssl is missing: the
 * contestant that needs it is then reported as failed.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TlsPair } from './rpc.js'

export async function selfSignedCertificate (): Promise<TlsPair> {
  const dir = mkdtempSync(join(tmpdir(), 'pw-bench-tls-'))
  try {
    const key = join(dir, 'key.pem')
    const cert = join(dir, 'cert.pem')
    await new Promise<void>((resolve, reject) => {
      execFile('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
        '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { timeout: 10_000 }, (err) => { if (err === null) resolve(); else reject(err) })
    })
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
