import { createHash } from 'node:crypto'

/** The network key of nodes that set none: every such node can talk to every other. */
const PUBLIC_NETWORK = 'peerwarden/public/1'

/**
 * A private network (like SSB's caps or libp2p's pnet): the SHA-256 of the key is the pre-shared key of
 * the Noise handshake (XXpsk0, see noise.ts). A node with another key cannot read the first handshake
 * message, so the listener refuses at once and says so (a refusal frame), and both ends fail with
 * `ERR_NETWORK_KEY`; the key itself never travels.
 */
export class NetworkKey {
  /** The handshake's pre-shared key (32 bytes). */
  readonly psk: Buffer

  constructor (key?: string | Uint8Array) {
    const raw = key === undefined ? PUBLIC_NETWORK : key
    this.psk = createHash('sha256').update(typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.from(raw)).digest()
  }
}
