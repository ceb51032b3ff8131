/** The benchmark drivers use the polyfill `peerwarden/libp2p` ships; import before anything from libp2p. */
import '../../src/adapters/promise-polyfill.js'
