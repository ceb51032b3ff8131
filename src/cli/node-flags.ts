import { PeerwardenError } from '../errors.js'
import { checkAccessEntries, isIpOrRange } from '../manager/access-list.js'
import { parseTcpAddress } from '../node/transport.js'
import { isLogLevel } from '../logger.js'
import { dashboardToken } from '../dashboard/access.js'
import { parseListen } from '../dashboard/server.js'

/** A node's id: the hex of its ed25519 public key. */
const NODE_ID = /^[0-9a-fA-F]{64}$/

/** Every flag of `peerwarden node` checked before anything starts: the first problem, named, as a PeerwardenError. */
export function checkNodeFlags (opts: { listen: string[]; bootstrap: string[]; announce?: string[]; topic?: string[]; networkKey?: string; lowWater: number; highWater: number; allow?: string[]; deny?: string[]; dashboard?: string | true; dashboardToken?: string; metrics?: string; logLevel?: string }): void {
  for (const [flag, list] of [['--listen', opts.listen], ['--bootstrap', opts.bootstrap], ['--announce', opts.announce ?? []]] as const) {
    for (const a of list) {
      try { parseTcpAddress(a) } catch (err) { throw PeerwardenError.invalid(`${flag} ${(err as Error).message}`) }
    }
  }
  for (const t of opts.topic ?? []) if (t === '') throw PeerwardenError.invalid('--topic must not be empty')
  if (opts.networkKey === '') throw PeerwardenError.invalid('--network-key must not be empty (leave it out for the network of every node without a key)')
  if (opts.lowWater > opts.highWater) throw PeerwardenError.invalid(`--low-water must be <= --high-water (got ${opts.lowWater} > ${opts.highWater})`)
  for (const [flag, list] of [['--allow', opts.allow ?? []], ['--deny', opts.deny ?? []]] as const) {
    for (const entry of list) {
      if (entry.trim() === '') throw PeerwardenError.invalid(`${flag} must be a peer id, an IP, a CIDR or an IP multiaddr, got ""`)
      try { checkAccessEntries(flag, [entry]) } catch (err) {
        // Named as the flag alone (the list names the field `--deny[0]`).
        throw PeerwardenError.invalid((err as Error).message.replace(`${flag}[0]`, flag))
      }
      // A node's peers are known by id (64 hex) or by IP: anything else would match nothing, in silence.
      if (!NODE_ID.test(entry) && !isIpOrRange(entry) && !entry.startsWith('/')) {
        throw PeerwardenError.invalid(`${flag} must be a node id (64 hex characters), an IP, a CIDR or an IP multiaddr, got ${JSON.stringify(entry)}`)
      }
    }
  }
  for (const [flag, value] of [['--dashboard', opts.dashboard], ['--metrics', opts.metrics]] as const) {
    if (typeof value !== 'string') continue
    // Read as the dashboard and the metrics endpoint will read it.
    try { parseListen(value) } catch { throw PeerwardenError.invalid(`${flag} must be host:port or a port (got ${JSON.stringify(value)})`) }
  }
  if (opts.dashboardToken !== undefined) {
    try { dashboardToken('127.0.0.1', opts.dashboardToken) } catch (err) { throw PeerwardenError.invalid(`--dashboard-token: ${(err as Error).message}`) }
  }
  if (opts.logLevel !== undefined && !isLogLevel(opts.logLevel)) throw PeerwardenError.invalid(`--log-level must be one of debug, info, warn, error, silent (got ${JSON.stringify(opts.logLevel)})`)
}

/** The entries of `--allow`/`--deny` as the manager takes them: a node's id is lowercase hex, so one given in capitals is lowered (it would match nothing). */
export function accessEntries (list: string[] | undefined): string[] {
  return (list ?? []).map((e) => NODE_ID.test(e) ? e.toLowerCase() : e)
}
