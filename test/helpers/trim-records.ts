import { PeerRecord } from '../../src/manager/peer-record.js'
import type { Priority } from '../../src/index.js'
import { testConnection, type TestConnection } from '../../src/testing/index.js'

let recordSeq = 0

/** A connected PeerRecord as the manager would hold it, for the trim index. */
export function connectedRecord (init: {
  priority?: Priority
  longTerm?: boolean
  value?: number
  streams?: number
  inbound?: boolean
  openedAt?: number
}): PeerRecord {
  const id = `r${recordSeq++}`
  const r = new PeerRecord(id, id, 0)
  r.priority = init.priority ?? 'medium'
  r.longTerm = init.longTerm ?? false
  r.value = init.value ?? 0
  r.inbound = init.inbound ?? true
  r.openedAt = init.openedAt ?? 0
  const conn = testConnection(id, { direction: r.inbound ? 'inbound' : 'outbound', streams: init.streams })
  r.conn = { conn, record: r, openedAt: r.openedAt }
  return r
}

/** The TestConnection behind a record made by `connectedRecord`. */
export function connOf (r: PeerRecord): TestConnection {
  return r.conn!.conn as TestConnection
}
