import * as v from 'valibot'
import type { StoredPeer } from '../manager/types.js'

/**
 * The one decoder of a peers.db row. A row is data from disk, written by an older version, another
 * program or a damaged file: it becomes a StoredPeer only through here.
 *
 * Rules:
 * - The row must be a JSON object whose `key` is the row's key, with every required field of
 *   StoredPeer of the right type; anything else is refused with a reason (the caller skips the row).
 * - Optional numbers may be `null` (JSON.stringify writes NaN as null): they read as absent.
 * - A tag whose value is not a finite number is dropped, not the whole peer.
 * - Sizes: at most `MAX_STORED_ADDRESSES` (256) addresses, `MAX_STORED_TOPICS` (1024) topics and
 *   `MAX_STORED_TAGS` (1024) tags, each string (key, id, address, topic, tag name) at most
 *   `MAX_STORED_STRING` (16,384) characters; a row past them is refused like any other (skipped and
 *   reported). The node stores 8 addresses and 64 topics of a peer it heard of; a row far past that
 *   is damage or an attack, and reading it costs every start (the manager restores a row's addresses
 *   in time linear in their count).
 */
/** Addresses a stored peer may hold (more: the row is skipped). */
export const MAX_STORED_ADDRESSES = 256
/** Topics a stored peer may hold (more: the row is skipped). */
export const MAX_STORED_TOPICS = 1024
/** Tags a stored peer may hold (more: the row is skipped). */
export const MAX_STORED_TAGS = 1024
/** Characters of one stored string: key, id, address, topic, tag name (longer: the row is skipped). */
export const MAX_STORED_STRING = 16_384

const optionalNumber = v.pipe(v.nullish(v.number()), v.transform((n) => n ?? undefined))
const text = v.pipe(v.string(), v.maxLength(MAX_STORED_STRING))
const strings = (max: number): v.GenericSchema<unknown, string[]> => v.pipe(v.array(text), v.maxLength(max))

const StoredPeerSchema = v.object({
  key: v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_STORED_STRING)),
  id: v.pipe(v.nullish(text), v.transform((s) => s ?? undefined)),
  addresses: strings(MAX_STORED_ADDRESSES),
  priority: v.picklist(['high', 'medium', 'low', 'banned']),
  topics: strings(MAX_STORED_TOPICS),
  longTerm: v.boolean(),
  permanent: v.boolean(),
  bootstrap: v.boolean(),
  tags: v.pipe(v.record(text, v.unknown()), v.check((tags) => Object.keys(tags).length <= MAX_STORED_TAGS, `more than ${MAX_STORED_TAGS} tags`), v.transform((tags) => {
    const out: Record<string, number> = {}
    for (const [k, value] of Object.entries(tags)) if (typeof value === 'number' && Number.isFinite(value)) out[k] = value
    return out
  })),
  lastConnected: optionalNumber,
  successes: v.number(),
  failures: v.number(),
  nextDialAt: optionalNumber,
  firstSeen: optionalNumber
})

/** The peer a row holds, or why the row cannot be read. */
export function decodeRow (key: string, data: string): { peer: StoredPeer } | { reason: string } {
  let json: unknown
  try {
    json = JSON.parse(data)
  } catch {
    return { reason: 'not JSON' }
  }
  const res = v.safeParse(StoredPeerSchema, json)
  if (!res.success) {
    const issue = res.issues[0]
    const path = issue.path?.map((p) => String(p.key)).join('.')
    return { reason: path !== undefined && path !== '' ? `${path}: ${issue.message}` : issue.message }
  }
  if (res.output.key !== key) return { reason: `holds the peer ${JSON.stringify(res.output.key)}` }
  const peer: StoredPeer = { ...res.output }
  // Absent, not undefined-valued: what comes out equals what went in.
  for (const k of ['id', 'lastConnected', 'nextDialAt', 'firstSeen'] as const) if (peer[k] === undefined) delete peer[k]
  return { peer }
}
