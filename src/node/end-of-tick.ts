/**
 * Something that holds writes back for the rest of the tick (a corked protomux or socket). If
 * `flushCork` throws, `failCork` gets the error (the owner destroys its stream): a flush at the end
 * of a tick has no caller to throw to, and must never end the process.
 */
export interface Corked { flushCork(): void; failCork?(err: unknown): void }

function flushOne (x: Corked): void {
  try {
    x.flushCork()
  } catch (err) {
    try { x.failCork?.(err) } catch { /* nothing more to do */ }
  }
}

/**
 * Two phases: protomux batches are flushed first (into the secure stream, which seals and writes
 * each one into its corked socket at once), and only then are the sockets uncorked, so that
 * everything a tick wrote on a connection leaves in one syscall. A stream that deferred its writes
 * (by a microtask) would still be served: the sockets wait for the microtasks the flush started.
 * docs/write-batching.md explains the three layers that batch a node's writes.
 */
let muxes: Corked[] = []
let sockets: Corked[] = []

const flushMuxes = (): void => {
  const list = muxes
  muxes = []
  for (const x of list) flushOne(x)
  // The sockets wait for the microtasks the flush started (the secret stream's writes).
  if (muxes.length > 0) queueMicrotask(scheduleMuxes)
  else if (sockets.length > 0) queueMicrotask(scheduleSockets)
}

const flushSockets = (): void => {
  if (muxes.length > 0) { queueMicrotask(scheduleMuxes); return } // a batch corked meanwhile goes first
  const list = sockets
  sockets = []
  for (const x of list) flushOne(x)
}

// queueMicrotask, then nextTick: a tick scheduled from a microtask runs only once the whole microtask
// queue is empty, i.e. after the promise chains that react to what arrived (and that hand a new
// connection to the application).
const scheduleMuxes = (): void => { process.nextTick(flushMuxes) }
const scheduleSockets = (): void => { process.nextTick(flushSockets) }

/**
 * Calls `x.flushCork()` once the current tick's microtasks have drained: what the tick sent on a
 * protomux leaves as one batch instead of one frame per message. One schedule serves every corked
 * thing of the tick; the caller registers `x` once per cork.
 */
export function flushMuxAtEndOfTick (x: Corked): void {
  if (muxes.push(x) === 1 && sockets.length === 0) queueMicrotask(scheduleMuxes)
}

/** The same for a corked socket: uncorked after the protomux batches of the tick were written into it. */
export function flushSocketAtEndOfTick (x: Corked): void {
  if (sockets.push(x) === 1 && muxes.length === 0) queueMicrotask(scheduleSockets)
}

/**
 * The corks are for the set-up burst only (Noise, hello, the application's first messages): once a
 * connection is accepted and that burst has left, each message goes out as it is sent — holding an
 * RPC answer until the end of the tick costs a round trip's worth of latency, and the mesh batches
 * its own writes. The transport registers here how to stop its socket cork; the connection calls it.
 */
const setupCorks = new WeakMap<object, () => void>()

export function onSetupDone (stream: object, stop: () => void): void { setupCorks.set(stream, stop) }

export function setupDone (stream: object): void {
  const stop = setupCorks.get(stream)
  if (stop === undefined) return
  setupCorks.delete(stream)
  stop()
}
