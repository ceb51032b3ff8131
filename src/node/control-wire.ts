import * as v from 'valibot'
import { addressField, addressList, decoder, MAX_ADDRESSES, peerIdField, portField, SMALL_JSON_BYTES, topicKeyField, uintField } from './wire.js'

/**
 * The control channel's messages ('peerwarden/control/3', message 0, JSON), one schema each: what a
 * peer sends becomes a `ControlMessage` only through `decodeControl`.
 *
 * Limits (a message over any of them is a protocol error, and the connection closes):
 * - topics: at most `MAX_TOPICS` discovery keys (64 hex characters each);
 * - addresses: at most `MAX_ADDRESSES` (8) per peer, each at most 256 characters;
 * - peers in one answer or referral: at most `MAX_PEERS_PER_MESSAGE` (32);
 * - ttl and lookup ids: non-negative safe integers;
 * - a `t` not listed here is a protocol error too;
 * - the whole message: at most `SMALL_JSON_BYTES` (256 KiB) of JSON, refused unparsed past it
 *   (`smallJson`); what we send is cut to fit (`fitControl`).
 * The close reason travels apart, as message 1 (a string, cut to `MAX_REASON_LENGTH` characters).
 */
export const MAX_TOPICS = 64
export const MAX_PEERS_PER_MESSAGE = 32
export const MAX_REASON_LENGTH = 64

const peerEntry = v.object({ id: peerIdField, addresses: addressList })
const peerList = v.pipe(v.array(peerEntry), v.maxLength(MAX_PEERS_PER_MESSAGE))

const controlSchema = v.variant('t', [
  // The listener's manager accepted the connection (its first message then): the dial succeeded.
  v.object({ t: v.literal('welcome') }),
  // announce: every topic listed is announced (absent from older peers: keep what the hello said)
  v.object({ t: v.literal('topics'), topics: v.pipe(v.array(topicKeyField), v.maxLength(MAX_TOPICS)), announce: v.optional(v.boolean()) }),
  v.object({ t: v.literal('announce'), topic: topicKeyField, addresses: addressList, ttl: uintField }),
  v.object({ t: v.literal('unannounce'), topic: topicKeyField }),
  v.object({ t: v.literal('lookup'), id: uintField, topic: topicKeyField }),
  v.object({ t: v.literal('peers'), id: uintField, topic: topicKeyField, peers: peerList }),
  v.object({ t: v.literal('pex'), topic: topicKeyField, peers: peerList }),
  // Dial-back (dial-back.ts): dial me back at this port of the IP you see me at, echoing the nonce
  // in the probe's hello (absent from older peers); and the answer.
  v.object({ t: v.literal('dialback'), id: uintField, port: portField, nonce: v.optional(v.pipe(v.string(), v.regex(/^[0-9a-f]{32}$/))) }),
  v.object({ t: v.literal('dialback-result'), id: uintField, result: v.picklist(['ok', 'failed', 'refused']) }),
  // Hole punching over a relayed connection (punch.ts): where the sender's NAT maps its relay connection; then go.
  v.object({ t: v.literal('punch'), address: addressField }),
  v.object({ t: v.literal('punch-sync') })
])

/** A control message as decoded (every field checked). */
export type ControlMessage = v.InferOutput<typeof controlSchema>

/** Bytes (already JSON-decoded by `safeJson`) → a control message, or why not. */
export const decodeControl = decoder(controlSchema)

/**
 * `msg`, with its peer list cut (halved until it fits) so that its JSON stays within
 * `SMALL_JSON_BYTES`, which its receiver parses at most. 32 peers of 8 ASCII addresses are about
 * 70 KiB and always fit; only addresses of many multi-byte or escaped characters need the cut.
 */
export function fitControl (msg: ControlMessage): ControlMessage {
  if (msg.t !== 'peers' && msg.t !== 'pex') return msg
  // A bound without encoding (a character is at most 6 bytes of JSON): the usual referral is far under it.
  let bound = 256
  for (const p of msg.peers) {
    bound += 128
    for (const a of p.addresses) bound += 6 * a.length + 3
  }
  if (bound <= SMALL_JSON_BYTES) return msg
  let out = msg
  while (out.peers.length > 0 && Buffer.byteLength(JSON.stringify(out)) + 8 > SMALL_JSON_BYTES) {
    out = { ...out, peers: out.peers.slice(0, out.peers.length >> 1) }
  }
  return out
}

export { MAX_ADDRESSES }
