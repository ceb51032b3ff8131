import { EventEmitter } from 'node:events'
import type net from 'node:net'
import { systemClock } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import { canonicalIp } from '../manager/canonical-ip.js'
import type { Clock } from '../manager/types.js'
import { FrameReader } from './frame-reader.js'
import { emptyReadMeter, PausedQueue, QUEUE_HIGH_BYTES, type ReadMeter } from './paused-queue.js'
import type { QueueHolder } from './queue-budget.js'
import type { PartialFrame, ReceiveBudgetReason } from './receive-budget.js'
import { SealedWriter } from './sealed-writer.js'
import { handshakeFrame, StreamHandshake, type HandshakeHost } from './secure-handshake.js'
import { MAX_HANDSHAKE_FRAME, MAX_MESSAGE, type SecureStreamOptions } from './secure-stream-options.js'
import { TAG, TransportCipher } from './transport-cipher.js'

export { BIG_MESSAGE } from './transport-cipher.js'
export { QUEUE_HIGH_BYTES, type ReadMeter } from './paused-queue.js'
export { MAX_MESSAGE, type SecureStreamOptions } from './secure-stream-options.js'

/**
 * An encrypted, message-framed duplex over a TCP socket: the node's transport under Protomux.
 *
 * Wire: docs/protocol.md (length-prefixed frames, read by frame-reader.ts with the memory rules of a
 * frame that arrives in pieces; the Noise handshake, secure-handshake.ts, then one
 * ChaCha20-Poly1305 message per frame, an empty one a keep-alive). The dialer's first messages follow
 * its last handshake frame in the same write: two round trips to a first answer, as with raw
 * @hyperswarm/secret-stream.
 *
 * Rules:
 * - `opened` resolves once the handshake is complete and rejects with a `PeerwardenError` if it fails
 *   (`ERR_NETWORK_KEY`, `ERR_HANDSHAKE`, `ERR_CONNECTION_CLOSED`, or the error `destroy` was given).
 * - Once open the stream is paused: what arrives is decrypted and queued until `resume()`, so the
 *   owner can set itself up before the first message is delivered. `pause()` stops delivery at once,
 *   even between two messages of one TCP read. The queue has a budget: once it holds 64 messages or
 *   `maxQueuedBytes` bytes the socket is paused too (so at most the budget plus one message is queued).
 *   Queued bytes, and writes waiting for a peer that does not read, count toward the node-wide
 *   `queueing` budget (queue-budget.ts), which may end the stream (`overQueueBudget`).
 * - Once `end()` was called (or the listener refused the handshake) the stream reads nothing more
 *   into memory: the queue and any partial frame are dropped, and what still arrives is discarded
 *   undecrypted (the socket is resumed so the remote's FIN is seen). What was written before `end()`
 *   (the close reason) still goes out.
 * - `write` encrypts and writes at once (no queue of its own; the socket's backpressure is returned
 *   and 'drain' forwarded). It never throws for what it is given (it may run in an end-of-tick
 *   flush): a message over `MAX_MESSAGE` destroys the stream with `ERR_MESSAGE_TOO_LARGE` (its
 *   'error') and returns false. Only a write before the handshake completed throws (`ERR_NOT_OPEN`,
 *   a bug in the owner). `alloc(n)` hands out a buffer that `write` seals (Protomux uses it: no
 *   copy per message; sealed-writer.ts, also for the messages OpenSSL seals, `BIG_MESSAGE` and up).
 * - A frame that does not authenticate destroys the stream; nothing unauthenticated is delivered.
 * - A frame longer than the limit (65535 bytes during the handshake, a message of `MAX_MESSAGE` and
 *   its tag after) destroys the stream (`ERR_HANDSHAKE`, `ERR_PROTOCOL`). Announcing a 16 MiB frame
 *   costs the peer what it actually sends (frame-reader.ts), for `frameTimeout` at most and within
 *   the node-wide `maxReceivingBytes` (receive-budget.ts: the connection then closes 'timeout' or
 *   'over-budget').
 * - Events: 'data' (a message), 'drain', 'end' (the remote ended), 'error', 'close' (once, when the
 *   socket closed). `lastRead` / `lastWrite` (ms timestamps) are for the keep-alive (liveness.ts).
 */
export class SecureStream extends EventEmitter implements QueueHolder {
  remotePublicKey: Buffer | null = null
  /** The Noise handshake hash: both ends of one connection share it. */
  handshakeHash: Buffer | null = null
  /** The payload of the remote's handshake message (its hello). */
  remotePayload: Buffer | null = null
  /** For Protomux (it keeps itself here). */
  userData: unknown = null
  /**
   * What Hypercore's replication reads of a Noise stream (`corestore.replicate(stream)`): the stream
   * itself as `noiseStream`, our public key, a `rawStream` object (it looks for UDX statistics there,
   * and finds none), and `setKeepAlive` (a no-op: the node's liveness.ts keeps connections alive).
   */
  get noiseStream (): this { return this }
  get publicKey (): Buffer { return this.opts.keys.publicKey }
  readonly rawStream: object = {}
  setKeepAlive (_ms: number): void {}
  destroyed = false
  /**
   * When a frame was last read (ms). A number from the start, not a bare field (`undefined` until the
   * constructor): V8 then keeps it a double updated in place, where a field that held `undefined`
   * boxes every timestamp into a new heap number that lives a whole keep-alive and is promoted.
   */
  lastRead = 0
  /** When a frame was last written (ms). */
  get lastWrite (): number { return this.writer.lastWrite }
  /** Told of every keep-alive that arrives (liveness.ts answers it); keep-alives are never delivered. */
  keepAliveListener: { heard: () => void } | null = null
  /**
   * Told when the receive budget (receive-budget.ts) ends the stream ('over-budget', 'timeout'): the
   * connection closes with that reason. Without one (a handshake) the stream is destroyed.
   */
  receiveBudgetListener: ((reason: ReceiveBudgetReason, why: string) => void) | null = null
  /** The receive budget ended the stream: its partial frames are counted no more. */
  private receiveEnded = false
  /** This stream's entry in the node-wide receive budget (one for all its frames). */
  private readonly partial: PartialFrame | undefined
  private readonly clock: Clock
  /** Resolves true once the handshake completed (as a Noise secret stream's does); rejects if it failed. */
  readonly opened: Promise<boolean>

  /** The handshake phase (secure-handshake.ts), until it completed or failed. */
  private handshake: StreamHandshake | null
  /** The transport keys and nonces, once the handshake completed. */
  private cipher: TransportCipher | null = null
  /** Bytes in, frames out; its limit is the handshake's until the handshake completes. */
  private readonly reader: FrameReader
  private paused = true
  private draining = false
  /** What arrived while paused (paused-queue.ts). */
  private readonly queue: PausedQueue
  private readonly meter: ReadMeter
  /** Seals and writes (sealed-writer.ts). */
  private readonly writer: SealedWriter
  private ended = false
  private closeEmitted = false
  private settle: { resolve: (opened: boolean) => void; reject: (err: Error) => void } | null = null

  constructor (readonly isInitiator: boolean, readonly socket: net.Socket, private readonly opts: SecureStreamOptions) {
    super()
    this.clock = opts.clock ?? systemClock
    this.meter = opts.meter ?? emptyReadMeter()
    const queueing = opts.queueing
    this.queue = new PausedQueue(opts.maxQueuedBytes ?? QUEUE_HIGH_BYTES, this.meter, queueing === undefined ? undefined : (bytes) => { queueing.count(this, 'read', bytes) })
    this.lastRead = this.clock.now()
    this.writer = new SealedWriter(socket, this.clock)
    const meter = this.meter
    this.partial = opts.receiving?.track(this, opts.receivingSource)
    this.reader = new FrameReader({
      limit: MAX_HANDSHAKE_FRAME,
      onHolding: (delta) => {
        meter.receivingBytes += delta
        if (!this.receiveEnded) this.partial?.held(this.reader.holding)
      }
    })
    this.opened = new Promise((resolve, reject) => { this.settle = { resolve, reject } })
    this.opened.catch(() => { /* the owner awaits it; a failure also ends the stream */ })
    this.handshake = new StreamHandshake(isInitiator, opts, this.handshakeHost())
    socket.on('data', this.onData)
    socket.on('drain', this.onDrain)
    socket.on('end', this.onEnd)
    socket.on('error', this.onSocketError)
    socket.on('close', this.onSocketClose)
    this.handshake.start()
  }

  /** Bytes decrypted and queued while paused. */
  get queuedBytes (): number { return this.queue.bytes }

  /** `end()` was called (or the handshake was refused): the stream finishes on its own. */
  get ending (): boolean { return this.ended }

  /** A buffer of `length` bytes that `write` encrypts in place. */
  alloc (length: number): Uint8Array { return this.writer.alloc(length) }

  /** Encrypts and sends one message; false when the socket's buffer is full (wait for 'drain'). */
  write (data: Uint8Array): boolean {
    if (this.destroyed || this.ended) { this.writer.drop(data); return false }
    const cipher = this.cipher
    if (cipher === null) throw new PeerwardenError('ERR_NOT_OPEN', 'write before the handshake completed')
    const length = data.byteLength
    if (length > MAX_MESSAGE) {
      // Never a throw: protomux writes its batches from an end-of-tick flush, where a throw would end the process.
      this.destroy(new PeerwardenError('ERR_MESSAGE_TOO_LARGE', `a message of ${length} bytes (at most ${MAX_MESSAGE})`))
      return false
    }
    const ok = this.writer.seal(cipher, data)
    const queueing = this.opts.queueing
    if (!ok && queueing !== undefined) {
      queueing.count(this, 'write', this.socket.writableLength)
      if (queueing.over) queueing.enforceSoon()
    }
    return ok
  }

  /** The remote's IP in canonical form, for the range its queued bytes are counted in (read once per connection: queue-budget.ts). */
  get remoteHost (): string | undefined {
    const ip = this.socket.remoteAddress
    return ip === undefined ? undefined : canonicalIp(ip) ?? ip
  }

  /** An empty message: tells the remote we are alive. */
  keepAlive (): void {
    if (this.cipher !== null && !this.destroyed && !this.ended) this.write(EMPTY)
  }

  pause (): void {
    this.paused = true
  }

  resume (): void {
    this.paused = false
    if (this.draining) return
    this.draining = true
    try {
      while (this.queue.length > 0 && !this.paused && !this.destroyed) {
        this.emit('data', this.queue.shift())
      }
    } finally {
      this.draining = false
    }
    if (!this.paused && !this.ended && this.socket.isPaused()) this.socket.resume()
  }

  /** Ends gracefully: what was written is sent, then FIN. Nothing more is read into memory (see the rules). */
  end (): void {
    if (this.destroyed || this.ended) return
    this.ended = true
    this.socket.end()
    this.discardReads()
  }

  /** From now on what arrives is dropped unread; the remote's FIN is still seen (the socket is resumed). */
  private discardReads (): void {
    this.queue.clear()
    this.reader.reset()
    if (this.socket.isPaused()) this.socket.resume()
  }

  destroy (err?: Error): void {
    if (this.destroyed) return
    this.destroyed = true
    this.queue.clear()
    this.reader.reset()
    if (this.settle !== null) {
      const settle = this.settle
      this.settle = null
      settle.reject(err instanceof PeerwardenError ? err : new PeerwardenError('ERR_CONNECTION_CLOSED', 'the connection closed during the handshake', { cause: err }))
    }
    this.opts.queueing?.forget(this)
    if (err !== undefined && this.listenerCount('error') > 0) this.emit('error', err)
    this.socket.destroy()
    if (this.socket.closed) this.onSocketClose()
  }

  private readonly onData = (chunk: Buffer): void => {
    this.lastRead = this.clock.now()
    if (this.ended) { this.meter.discardedBytes += chunk.byteLength; return }
    if (this.destroyed) return
    const unread = this.reader.read(chunk, this.onFrame)
    const oversize = this.reader.oversize
    if (oversize !== undefined) {
      this.destroy(new PeerwardenError(this.handshake !== null ? 'ERR_HANDSHAKE' : 'ERR_PROTOCOL', `a frame of ${oversize.length} bytes (at most ${oversize.limit})`))
      return
    }
    // A message delivered above made the owner end the stream: the rest of the read is not looked at.
    if (this.ended && !this.destroyed && unread > 0) this.meter.discardedBytes += unread
    // After the read, never inside it: the budget may end this stream or others.
    const receiving = this.opts.receiving
    if (receiving !== undefined) {
      if (this.reader.holding > 0) this.partial!.progressed()
      if (receiving.over) receiving.enforce()
    }
    if (this.opts.queueing?.over === true) this.opts.queueing.enforce()
  }

  /** The queue budget ends the stream (queue-budget.ts): closed 'over-budget', at once if a peer that does not read holds our writes. Never throws. */
  overQueueBudget (why: string): void {
    if (this.destroyed) return
    const listener = this.receiveBudgetListener
    if (listener !== null) {
      try { listener('over-budget', why) } catch { /* destroyed below */ }
    }
    // A close message behind what the peer does not read would never reach it (past the close itself: 64 KiB).
    if (listener === null || this.socket.writableLength > 64 * 1024) this.destroy(new PeerwardenError('ERR_CONNECTION_CLOSED', why))
  }

  /** The receive budget ends the stream (receive-budget.ts): its owner closes it with `reason`, or it is destroyed. Never throws. */
  overReceiveBudget (reason: ReceiveBudgetReason, why: string): void {
    if (this.receiveEnded || this.destroyed) return
    this.receiveEnded = true
    const listener = this.receiveBudgetListener
    if (listener !== null) {
      try { listener(reason, why); return } catch { /* destroyed below */ }
    }
    this.destroy(new PeerwardenError(reason === 'timeout' ? 'ERR_HANDSHAKE_TIMEOUT' : 'ERR_HANDSHAKE_EVICTED', why))
  }

  /** One frame from the reader; whether to read on. A `lent` frame (frame-reader.ts) is never kept. */
  private readonly onFrame = (frame: Buffer, lent: boolean): boolean => {
    this.frame(frame, lent)
    return !this.destroyed && !this.ended
  }

  /** Bytes held for the frame being received (at most 4 × what arrived of it, or 1 MiB). */
  get partialBytes (): number { return this.reader.holding }

  private frame (frame: Buffer, lent: boolean): void {
    if (this.handshake !== null) { this.handshake.receive(lent ? Buffer.from(frame) : frame); return }
    if (frame.byteLength === TAG) {
      // An empty message, a keep-alive: authenticated, never delivered.
      try {
        this.cipher!.openEmpty(frame)
      } catch (err) {
        this.destroy(err as PeerwardenError)
        return
      }
      this.keepAliveListener?.heard()
      return
    }
    let plain: Buffer
    try {
      plain = this.cipher!.open(frame)
    } catch (err) {
      this.destroy(err as PeerwardenError)
      return
    }
    // A small message is opened in place: out of a lent frame it is copied (a big one is opened into a fresh buffer).
    if (lent && plain.buffer === frame.buffer) plain = Buffer.from(plain)
    if (this.paused || this.queue.length > 0) {
      if (this.queue.push(plain) && !this.socket.isPaused()) {
        this.queue.countPause()
        this.socket.pause()
      }
      return
    }
    this.emit('data', plain)
  }

  /**
   * What the handshake phase (secure-handshake.ts) does to this stream: made for it and dropped with
   * it once the handshake ends (as a field, its object and five closures stayed with every open
   * connection: 0.35 KB of a 13 KB idle connection).
   */
  private handshakeHost (): HandshakeHost {
    return {
      writeFrame: (frame) => { this.writer.raw(frame) },
      destroy: (err) => { this.destroy(err) },
      refuse: () => { this.refuse() },
      identified: (remotePublicKey, remotePayload) => {
        this.remotePublicKey = remotePublicKey
        this.remotePayload = remotePayload
      },
      complete: ({ tx, rx, hash }) => {
        this.handshake = null
        this.reader.limit = MAX_MESSAGE + TAG
        this.cipher = new TransportCipher(tx, rx)
        this.handshakeHash = hash
        const settle = this.settle!
        this.settle = null
        settle.resolve(true)
      }
    }
  }

  /** The listener cannot read the dialer's first message: an empty frame tells the dialer why, then FIN. */
  private refuse (): void {
    const err = new PeerwardenError('ERR_NETWORK_KEY', 'the remote is not on this network: its network key differs')
    this.handshake = null
    this.writer.raw(handshakeFrame(EMPTY))
    const settle = this.settle!
    this.settle = null
    settle.reject(err)
    this.ended = true
    this.socket.end()
  }

  private readonly onDrain = (): void => {
    this.opts.queueing?.count(this, 'write', 0)
    this.emit('drain')
  }

  private readonly onEnd = (): void => {
    if (this.settle !== null) { this.destroy(new PeerwardenError('ERR_CONNECTION_CLOSED', 'the remote closed the connection during the handshake')); return }
    this.emit('end')
  }

  private readonly onSocketError = (err: Error): void => { this.destroy(err) }

  private readonly onSocketClose = (): void => {
    if (this.closeEmitted) return
    this.closeEmitted = true
    if (!this.destroyed) this.destroy()
    this.emit('close')
  }
}

const EMPTY = new Uint8Array(0)
