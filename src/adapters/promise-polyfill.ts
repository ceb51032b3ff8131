/**
 * js-libp2p 3.x (and it-queue, mortice, yamux, noise…) call `Promise.withResolvers`, which Node 20
 * lacks (Node >= 22 has it). `peerwarden/libp2p` imports this module first: it installs a
 * spec-shaped polyfill once, and only when the function is missing.
 */
interface Resolvers<T> { promise: Promise<T>; resolve: (value: T | PromiseLike<T>) => void; reject: (reason?: unknown) => void }

const P = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> }
if (typeof P.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T> (this: PromiseConstructor): Resolvers<T> {
      let resolve!: Resolvers<T>['resolve']
      let reject!: Resolvers<T>['reject']
      const promise = new this<T>((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    }
  })
}

export {}
