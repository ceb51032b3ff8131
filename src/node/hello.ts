import c from './vendor/compact-encoding.js'
import { MAX_ADDRESS_LENGTH } from './wire.js'

/** What each side tells the other in its handshake message (encrypted; see noise.ts). */
export interface Hello {
  listen: string[]
  rendezvous: boolean
  /** Discovery keys of the topics joined now. */
  topics?: string[]
  /** Every topic in `topics` is announced (not lookup-only): a rendezvous point may register it. */
  announce?: boolean
  /** The IP the sender sees the receiver at (the socket's remote address): how others see us. */
  observed?: string
  /** The port the sender sees the receiver's socket at (with `observed`): where a NAT maps the receiver's connection. */
  observedPort?: number
  /**
   * A visit to a rendezvous point, not a connection: the receiver brings the sender's registrations
   * in line with `topics` (registers them when `announce`, withdraws the others) and closes ('visit').
   */
  visit?: boolean
  /**
   * A dial-back probe (dial-back.ts), not a connection: the receiver closes it at once ('probe'). The
   * prober learnt what it wanted from the handshake completing.
   */
  probe?: boolean
  /** The sender relays connections for peers that hold a reservation with it (relay.ts). */
  relay?: boolean
  /**
   * With `probe`: the nonce of the dial-back request it answers (32 hex characters). The dialled
   * node believes a dial-back only when the probe that reached it echoes the nonce it sent.
   */
  nonce?: string
}

/** The hello's format version (the first byte). */
const HELLO_VERSION = 1

/** At most this many listen addresses and topics are taken from a remote's hello (a listen address longer than `MAX_ADDRESS_LENGTH` is dropped). */
const MAX_LISTEN = 16
const MAX_TOPICS = 64

interface State { buffer: Buffer | null; start: number; end: number }
interface Codec<T> { preencode(state: State, v: T): void; encode(state: State, v: T): void; decode(state: State): T }
const uint = c.uint as Codec<number>
const string = c.string as Codec<string>

/** Longest observed IP taken from a hello. */
const MAX_OBSERVED = 64

/** Bytes of a dial-back nonce (see `Hello.nonce`). */
export const NONCE_BYTES = 16

/**
 * The hello on the wire: version, flags (bit 0: rendezvous, bit 1: announces its topics, bit 2: a
 * visit, bit 3: a probe, bit 4: serves as a relay, bit 5: a nonce follows; decoders ignore bits they
 * do not know), the listen addresses (strings), the topics (32 bytes each), then optionally the
 * observed IP (a string) and the observed port (a uint; absent from older peers, ignored by them),
 * then with bit 5 the nonce (`NONCE_BYTES` bytes; the observed IP and port are then always written,
 * '' and 0 when unknown, and older decoders ignore what follows them).
 */
export function encodeHello (h: Hello): Buffer {
  const topics = h.topics ?? []
  const nonce = h.nonce !== undefined && NONCE.test(h.nonce) ? h.nonce : undefined
  const observed = h.observed ?? (nonce !== undefined ? '' : undefined)
  const observedPort = h.observedPort ?? (nonce !== undefined ? 0 : undefined)
  const state: State = { buffer: null, start: 0, end: 2 } // version, flags
  uint.preencode(state, h.listen.length)
  for (const a of h.listen) string.preencode(state, a)
  uint.preencode(state, topics.length)
  state.end += 32 * topics.length
  if (observed !== undefined) {
    string.preencode(state, observed)
    if (observedPort !== undefined) uint.preencode(state, observedPort)
  }
  if (nonce !== undefined) state.end += NONCE_BYTES
  const buf = state.buffer = Buffer.allocUnsafe(state.end)
  buf[state.start++] = HELLO_VERSION
  buf[state.start++] = (h.rendezvous ? 1 : 0) | (h.announce === true ? 2 : 0) | (h.visit === true ? 4 : 0) | (h.probe === true ? 8 : 0) | (h.relay === true ? 16 : 0) | (nonce !== undefined ? NONCE_FLAG : 0)
  uint.encode(state, h.listen.length)
  for (const a of h.listen) string.encode(state, a)
  uint.encode(state, topics.length)
  for (const t of topics) {
    buf.write(t, state.start, 32, 'hex')
    state.start += 32
  }
  if (observed !== undefined) {
    string.encode(state, observed)
    if (observedPort !== undefined) uint.encode(state, observedPort)
  }
  if (nonce !== undefined) {
    buf.write(nonce, state.start, NONCE_BYTES, 'hex')
    state.start += NONCE_BYTES
  }
  return buf
}

const NONCE = /^[0-9a-f]{32}$/
/** The hello flag that says a nonce follows (see `encodeHello`). */
const NONCE_FLAG = 32

/** Never throws: a malformed hello (or one of an unknown version) decodes to null. */
export function decodeHello (buffer: Buffer): Hello | null {
  try {
    const state: State = { buffer, start: 0, end: buffer.byteLength }
    if (buffer.byteLength < 2 || buffer[0] !== HELLO_VERSION) return null
    const flags = buffer[1]
    state.start = 2
    const listen: string[] = []
    for (let n = uint.decode(state); n > 0; n--) {
      const a = string.decode(state)
      if (listen.length < MAX_LISTEN && a.length <= MAX_ADDRESS_LENGTH) listen.push(a)
    }
    const topics: string[] = []
    for (let n = uint.decode(state); n > 0; n--) {
      if (state.end - state.start < 32) return null
      if (topics.length < MAX_TOPICS) topics.push(buffer.toString('hex', state.start, state.start + 32))
      state.start += 32
    }
    const hello: Hello = { rendezvous: (flags & 1) !== 0, listen, topics, announce: (flags & 2) !== 0 }
    if ((flags & 4) !== 0) hello.visit = true
    if ((flags & 8) !== 0) hello.probe = true
    if ((flags & 16) !== 0) hello.relay = true
    if (state.start < state.end) {
      const observed = string.decode(state)
      if (observed.length > 0 && observed.length <= MAX_OBSERVED) hello.observed = observed
      if (state.start < state.end) {
        const port = uint.decode(state)
        if (hello.observed !== undefined && Number.isSafeInteger(port) && port >= 1 && port <= 65535) hello.observedPort = port
      }
    }
    if ((flags & NONCE_FLAG) !== 0) {
      if (state.end - state.start < NONCE_BYTES) return null
      hello.nonce = buffer.toString('hex', state.start, state.start + NONCE_BYTES)
    }
    return hello
  } catch {
    return null
  }
}

/** The flags of an encoded hello (0 for one too short): read without decoding the rest. */
export function helloFlags (payload: Uint8Array | null): number {
  return payload !== null && payload.byteLength >= 2 && payload[0] === HELLO_VERSION ? payload[1]! : 0
}

/** The hello flag of a dial-back probe (see `Hello.probe`). */
export const PROBE_FLAG = 8

/** The hello flag of a node that serves as a relay (see `Hello.relay`). */
export const RELAY_FLAG = 16
