import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

/** The network key of nodes that set none: every such node can talk to every other. */
const PUBLIC_NETWORK = 'peerwarden/public/1'

/** Bytes of one side's proof: half of the session's HMAC-SHA256 (truncated HMAC, RFC 2104 §5). */
export const PROOF_BYTES = 16

/**
 * A private network (like SSB's caps or libp2p's pnet). After the Noise handshake both sides compute
 * HMAC-SHA256(networkKey, handshakeHash); the initiator sends its first half, the responder its second
 * half. A half proves knowledge of the key without revealing it, it is bound to this session (a
 * recorded proof is useless on another connection), and seeing one half does not give the other.
 * One HMAC per side covers both the proof we send and the one we check. Nodes with different keys both
 * see a mismatch and close with `ERR_NETWORK_KEY`.
 */
export class NetworkKey {
  private readonly key: Buffer

  constructor (key?: string | Uint8Array) {
    const raw = key === undefined ? PUBLIC_NETWORK : key
    this.key = createHash('sha256').update(typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.from(raw)).digest()
  }

  /** The session's MAC: `proof(mac, initiator)` is what each side sends. */
  session (handshakeHash: Uint8Array): Buffer {
    return createHmac('sha256', this.key).update(handshakeHash).digest()
  }

  /** The proof of the initiator (or of the responder) in a session. */
  proof (mac: Buffer, initiator: boolean): Buffer {
    return initiator ? mac.subarray(0, PROOF_BYTES) : mac.subarray(PROOF_BYTES, 2 * PROOF_BYTES)
  }

  /** True when `proof` is the remote side's proof for this session. */
  verify (mac: Buffer, remoteIsInitiator: boolean, proof: unknown): boolean {
    if (!(proof instanceof Uint8Array) || proof.byteLength !== PROOF_BYTES) return false
    return timingSafeEqual(this.proof(mac, remoteIsInitiator), proof)
  }
}
