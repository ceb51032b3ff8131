// Compile-time only: the untyped Holepunch modules, declared in terms of the wrappers beside this
// file (one statement of each type). A .d.ts is never emitted, so this never ships: the package's
// declarations name the wrappers' interfaces, and an application's own types for these modules
// (say @types/sodium-native) are not overridden. The tests and benchmarks that drive the modules
// directly use these declarations too.

declare module 'sodium-native' {
  const sodium: import('./sodium-native.js').Sodium
  export default sodium
}

declare module 'protomux' {
  const Protomux: import('./protomux.js').ProtomuxClass
  type Protomux = import('./protomux.js').Protomux
  export default Protomux
  export type Channel = import('./protomux.js').Channel
  export type Message<T> = import('./protomux.js').Message<T>
}

declare module 'compact-encoding' {
  const c: import('./compact-encoding.js').CompactEncoding
  export default c
}
