/**
 * What `createNode` checks of its options before anything starts: each mistake a newcomer makes
 * first is an `ERR_INVALID_ARGUMENT` naming the option and what it accepts; an unknown name is
 * refused with the closest one ("did you mean"), a manager option at the top level with where it
 * belongs. The transport's budgets, the identity's `seed` and the `logger` are checked by their
 * owners, still before anything listens.
 */
import { PeerwardenError } from '../errors.js'
import * as check from '../manager/validate.js'
import { rejectManagerInstance } from '../options-mistakes.js'
import { resolveFailedDialLimits, resolveHintLimits } from './budget-options.js'
import { DEFAULT_RENDEZVOUS_LIMITS } from './rendezvous.js'
import { NODE_OPTIONS, type NodeOptions } from './types.js'

/** The node's durations (ms): finite, at least 1 ms. */
const DURATIONS = ['handshakeTimeout', 'keepAlive', 'deadTimeout', 'announceTtl', 'refreshInterval'] as const

/**
 * Checks `options` (see the module comment).
 *
 * Rules:
 * - `manager` is an object of manager options; its `dial` is refused (the node dials over TCP +
 *   Noise itself), its `localPeer` is checked against the node's id once the key is known (`checkLocalPeer`).
 * - `networkKey` is a non-empty string or Uint8Array (an empty one would silently be a private network of its own).
 * - `rendezvous` is a boolean; `relay` and `dialBack` are booleans or objects of their limits.
 * - Durations are finite numbers of ms >= 1; `pexPerMinute` an integer >= 0; `rendezvousLimits` known
 *   names with integers >= 1.
 */
export function checkNodeOptions (options: unknown): asserts options is NodeOptions {
  if (options == null || typeof options !== 'object') throw PeerwardenError.invalid(`createNode options must be an object, got ${check.describe(options)}`)
  const o = options as NodeOptions
  rejectManagerInstance('createNode options', o, 'createNode')
  rejectManagerInstance('manager', o.manager, 'createNode')
  if (o.manager !== undefined && (o.manager === null || typeof o.manager !== 'object' || Array.isArray(o.manager))) {
    throw PeerwardenError.invalid(`manager must be an object of manager options ({ lowWater, highWater, … }), got ${check.describe(o.manager)}`)
  }
  check.rejectUnknownOptions('createNode options', o, NODE_OPTIONS, { manager: check.MANAGER_OPTIONS })
  if (o.manager?.dial !== undefined) {
    throw PeerwardenError.invalid('manager.dial is not accepted: the node dials its peers itself (TCP + Noise); leave it out (for a transport of your own, use createConnectionManager)')
  }
  if (o.dataDir === '') throw PeerwardenError.invalid('dataDir must be a directory path, got "" (leave dataDir out to keep the key pair and the peers in memory)')
  if (o.dataDir !== undefined) check.nonEmptyString('dataDir', o.dataDir)
  const key = o.networkKey as unknown
  if (key !== undefined && !((typeof key === 'string' || key instanceof Uint8Array) && key.length > 0)) {
    const empty = typeof key === 'string' || key instanceof Uint8Array
    throw PeerwardenError.invalid(`networkKey must be a string or a Uint8Array${empty ? ', not empty (leave it out for the network of every node without a key)' : ''}, got ${check.describe(key)}`)
  }
  for (const name of DURATIONS) if (o[name] !== undefined) check.duration(name, o[name], 1)
  if (o.pexPerMinute !== undefined) check.int('pexPerMinute', o.pexPerMinute, 0)
  if (o.rendezvous !== undefined && typeof o.rendezvous !== 'boolean') throw PeerwardenError.invalid(`rendezvous must be true or false, got ${check.describe(o.rendezvous)}`)
  if (o.rendezvousLimits !== undefined) {
    const limits = o.rendezvousLimits as unknown
    if (limits === null || typeof limits !== 'object' || Array.isArray(limits)) throw PeerwardenError.invalid(`rendezvousLimits must be an object, got ${check.describe(limits)}`)
    check.rejectUnknownOptions('rendezvousLimits', limits, Object.keys(DEFAULT_RENDEZVOUS_LIMITS))
    for (const [name, value] of Object.entries(limits)) if (value !== undefined) check.int(`rendezvousLimits.${name}`, value, 1)
  }
  for (const name of ['relay', 'dialBack'] as const) {
    const value = o[name] as unknown
    if (value !== undefined && typeof value !== 'boolean' && (value === null || typeof value !== 'object' || Array.isArray(value))) {
      throw PeerwardenError.invalid(`${name} must be true, false or an object of its limits, got ${check.describe(value)}`)
    }
  }
  // Their budgets are made later (discovery's once listening): checked now.
  resolveHintLimits(o.hintLimits)
  resolveFailedDialLimits(o.failedDialLimits)
}

/** `manager.localPeer`, when given, must be the node's own id (the manager would otherwise call us by another name). */
export function checkLocalPeer (given: unknown, id: string): void {
  if (given === undefined || given === id) return
  throw PeerwardenError.invalid(`manager.localPeer must be the node's id (${id}), got ${check.describe(given)}: the node's id is its public key; leave localPeer out`)
}
