import type { Clock } from './manager/types.js'

/**
 * The wall clock, for production use. The core never reads time itself: it receives a `Clock`,
 * and this is the default one. Timers are unref'd so that a manager never keeps a process alive.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const handle = setTimeout(fn, ms)
    handle.unref?.()
    return handle
  },
  clearTimeout: (handle) => { clearTimeout(handle as ReturnType<typeof setTimeout>) }
}
