import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

/** The network key of nodes that set none: every such node can talk to every other. */
const PUBLIC_NETWORK = 'peerwarden/public/1'

/**
 * A private network (like SSB's caps or libp2p's pnet). After the Noise handshake each side sends
 * HMAC-SHA256(networkKey, handshakeHash): it proves knowledge of the key without revealing it, and it
 * is bound to this session (a recorded proof is useless on another connection). Nodes with different
 * keys both see a mismatch and close with `ERR_NETWORK_KEY`.
 */
export class NetworkKey {
  private readonly key: Buffer

  constructor (key?: string | Uint8Array) {
    const raw = key === undefined ? PUBLIC_NETWORK : key
    this.key = createHash('sha256').update(typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.from(raw)).digest()
  }

  proof (handshakeHash: Uint8Array, initiator: boolean): Buffer {
    return createHmac('sha256', this.key).update(initiator ? 'initiator' : 'responder').update(handshakeHash).digest()
  }

  verify (handshakeHash: Uint8Array, remoteIsInitiator: boolean, proof: unknown): boolean {
    if (typeof proof !== 'string' || !/^[0-9a-f]{64}$/.test(proof)) return false
    return timingSafeEqual(this.proof(handshakeHash, remoteIsInitiator), Buffer.from(proof, 'hex'))
  }
}
