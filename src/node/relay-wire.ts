import ipaddr from 'ipaddr.js'
import * as v from 'valibot'
import c from './vendor/compact-encoding.js'
import { decoder, MALFORMED, peerIdField, uintField } from './wire.js'

/**
 * The relay channel ('peerwarden/relay/2'): message 0 is JSON, one schema each (decoded by
 * `decodeRelay`), message 1 carries a circuit's bytes (`relayData`).
 *
 * - 'reserve' (client → relay): keep me reachable through you; answered 'reserved' (the
 *   reservation's `ttl` and each circuit's `duration` in ms and `data` in bytes per direction, 0 =
 *   none) or 'refused' with a reason.
 * - 'connect' (dialer → relay): open circuit `id` to `peer`, which holds a reservation with you.
 *   The relay tells the peer 'incoming' (its own id, the dialer's peer id, and the IP it sees the
 *   dialer's connection come from, `observed`: where a hole punch toward the dialer may go; older
 *   relays send none) and forwards bytes both ways from then on; no answer means it is open, 'close' that it is not (or no longer).
 * - Circuit ids are chosen by the end that opens the circuit ('connect' from a dialer, 'incoming'
 *   from a relay): even by the end with the lower peer id, odd by the other, whatever their roles —
 *   two nodes that relay for each other share one channel without a clash. Version 1 split them by
 *   role (even: client, odd: relay), which clashed when both ends were clients and relays; the
 *   protocol name changed with it, so version 1 and 2 nodes do not pair relay channels.
 * - A data message is at most `MAX_RELAY_DATA` bytes; a larger one is a protocol error.
 */
export const RELAY_PROTOCOL = 'peerwarden/relay/2'
/** Largest chunk of a circuit's bytes in one data message. */
export const MAX_RELAY_DATA = 32 * 1024
/** Longest reason taken from a peer. */
const MAX_WHY = 64

const why = v.pipe(v.string(), v.maxLength(MAX_WHY))
/** An IP literal, as a relay saw a dialer's connection come from. */
const observedIp = v.pipe(v.string(), v.maxLength(64), v.check((ip) => ipaddr.isValid(ip), 'not an IP'))

const relaySchema = v.variant('t', [
  v.object({ t: v.literal('reserve') }),
  v.object({ t: v.literal('reserved'), ttl: uintField, duration: uintField, data: uintField }),
  v.object({ t: v.literal('refused'), why }),
  v.object({ t: v.literal('connect'), id: uintField, peer: peerIdField }),
  v.object({ t: v.literal('incoming'), id: uintField, peer: peerIdField, observed: v.optional(observedIp) }),
  v.object({ t: v.literal('close'), id: uintField, why: v.optional(why) })
])

/** A relay channel message as decoded (every field checked). */
export type RelayMessage = v.InferOutput<typeof relaySchema>

/** Bytes (already JSON-decoded by `safeJson`) → a relay message, or why not. */
export const decodeRelay = decoder(relaySchema)

/** A circuit's bytes on the wire. */
export interface RelayData { id: number; data: Uint8Array }

interface State { start: number; end: number; buffer: Uint8Array | null }
interface Codec<T> { preencode: (state: State, v: T) => void; encode: (state: State, v: T) => void; decode: (state: State) => T }
const uint = c.uint as unknown as Codec<number>

/** Message 1: the circuit id (a uint), then the bytes to the end. Decoding never throws (`MALFORMED`). */
export const relayData: Codec<RelayData | typeof MALFORMED> = {
  preencode (state, m) { uint.preencode(state, (m as RelayData).id); state.end += (m as RelayData).data.byteLength },
  encode (state, m) {
    const { id, data } = m as RelayData
    uint.encode(state, id)
    state.buffer!.set(data, state.start)
    state.start += data.byteLength
  },
  decode (state) {
    try {
      const id = uint.decode(state)
      const data = state.buffer!.subarray(state.start, state.end)
      state.start = state.end
      if (!Number.isSafeInteger(id) || data.byteLength > MAX_RELAY_DATA) return MALFORMED
      // A copy: the frame's buffer is reused once the handler returns.
      return { id, data: Buffer.from(data) }
    } catch {
      return MALFORMED
    }
  }
}
