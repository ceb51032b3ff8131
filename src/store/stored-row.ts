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
 */
const optionalNumber = v.pipe(v.nullish(v.number()), v.transform((n) => n ?? undefined))
const strings = v.array(v.string())

const StoredPeerSchema = v.object({
  key: v.pipe(v.string(), v.minLength(1)),
  id: v.pipe(v.nullish(v.string()), v.transform((s) => s ?? undefined)),
  addresses: strings,
  priority: v.picklist(['high', 'medium', 'low', 'banned']),
  topics: strings,
  longTerm: v.boolean(),
  permanent: v.boolean(),
  bootstrap: v.boolean(),
  tags: v.pipe(v.record(v.string(), v.unknown()), v.transform((tags) => {
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
