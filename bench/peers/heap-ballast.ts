/**
 * A heap of the size an application's would have, held by each bulk child (sender and receiver) of
 * every contestant before it connects.
 *
 * Why: V8 starts incremental marking whenever its old generation holds more than 8 MB and the room
 * left under the old generation's limit is below the young generation's size. A bare bulk child holds
 * 7–9 MB (code, modules, the node): one just over 8 MB with ArrayBuffers churning (every 64 KiB
 * message is one) runs a Mark-Compact every 20–60 MB sent (the external memory pressure scavenges
 * free the buffers, and each one re-checks the limit), and loses 40–60 % of its throughput. Which side of 8 MB
 * a child lands on depends on how much code it loaded, not on its message path: the previous release
 * a079a00 (7.2–7.7 MB) ran 3 Mark-Compacts per GiB, this tree (8.3–8.5 MB) 27 on the sender and 58
 * on the receiver, and a079a00 made to hold 1–2 MB more ran as many and as slowly (see
 * docs/benchmarks.md). A process with an application in it holds more than that (the cliff is gone
 * from about 12 MB up), so each child holds `PEERWARDEN_BULK_HEAP_MIB` MiB (default 16) of small
 * live objects; 0 runs the children bare.
 */

/**
 * Node flags of every bulk child: its old generation's size is configured (`--initial-old-space-size`,
 * env PEERWARDEN_BULK_OLD_SPACE_MIB, default 64; 0: no flag). Unconfigured, V8 pulls the old
 * generation's limit down after each scavenge by the share of young objects that survived it
 * (heap.cc `ShrinkOldGenerationAllocationLimitIfNotConfigured`), to as little as the heap plus
 * 8 MB: a sender of whose 64 KiB messages nothing survives (this tree's: promoted=0 on every
 * scavenge) got there, below the young generation's 16 MB, and marked at every scavenge again (20–31
 * Mark-Compacts per GiB in 5 of 10 runs under load, ballast or not; a079a00's sender, whose JS
 * garbage survives some scavenges, none). With the size configured: none in the same set-up.
 */
export function bulkExecArgv (): string[] {
  const v = Number(process.env.PEERWARDEN_BULK_OLD_SPACE_MIB ?? 64)
  const mib = Number.isFinite(v) && v >= 0 ? Math.round(v) : 64
  return mib === 0 ? [] : [`--initial-old-space-size=${mib}`]
}

/** MiB of live objects each bulk child holds: env PEERWARDEN_BULK_HEAP_MIB, default 16. */
export function ballastMib (): number {
  const v = Number(process.env.PEERWARDEN_BULK_HEAP_MIB ?? 16)
  return Number.isFinite(v) && v >= 0 ? v : 16
}

/** Live until the process exits. */
const held: unknown[] = []

/**
 * Allocates small objects until the heap in use grew by about `mib` MiB (measured with
 * `process.memoryUsage().heapUsed`, which counts some garbage too: it is a floor, not exact) and
 * keeps them. Returns the growth in MiB.
 */
export function holdBallast (mib = ballastMib()): number {
  const before = process.memoryUsage().heapUsed
  const target = mib * 1024 * 1024
  let n = 0
  while (process.memoryUsage().heapUsed - before < target) {
    const batch = new Array<{ n: number; s: string }>(10_000)
    for (let i = 0; i < batch.length; i++, n++) batch[i] = { n, s: `ballast ${n}` }
    held.push(batch)
  }
  return (process.memoryUsage().heapUsed - before) / (1024 * 1024)
}
