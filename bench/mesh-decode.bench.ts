/**
 * What decoding costs per message (every peer message is decoded): the mesh's decoders (safeJson + one valibot
 * schema per message, src/mesh/messages.ts) against plain `JSON.parse` of the same bytes, for a
 * typical call and a typical result. Pure CPU, one process.
 *
 * Run: `npx tsc -p tsconfig.json && node build/bench/mesh-decode.bench.js`
 * (or, from bench/run.ts, `meshDecode()`). Prints one JSON line per figure.
 */
import c from 'compact-encoding'
import { decodeRpc, decodeToRegistry } from '../src/mesh/messages.js'
import { safeJson } from '../src/node/wire.js'
import type { Figure } from './manager.bench.js'

interface State { start: number; end: number; buffer: Uint8Array | null }
const cenc = c as unknown as { encode: (codec: unknown, v: unknown) => Uint8Array; json: { decode: (state: State) => unknown } }

const CALL = { t: 'call', id: 123456, cmd: 'work', args: { user: 'u-12345', items: [1, 2, 3, 4, 5], note: 'a typical small request' }, deadline: 1_764_000_000_000 }
const RESULT = { t: 'result', id: 123456, ok: true, value: { variant: 'w1', total: 15, items: [{ id: 1, name: 'one' }, { id: 2, name: 'two' }] } }
const ERROR = { t: 'result', id: 123456, ok: false, error: { message: 'the handler failed', code: 'ERR_CUSTOM' } }
const REGISTER = { t: 'register', role: 'Worker', variant: 'w1', addresses: ['tcp://127.0.0.1:40001', 'tcp://10.0.0.5:40001'] }

/** µs per op of `fn`, median of `runs` timed loops of `n` ops each (after a warm-up loop). */
function measure (fn: () => unknown, n = 200_000, runs = 7): number {
  let sink = 0
  for (let i = 0; i < n; i++) if (fn() !== undefined) sink++
  const out: number[] = []
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < n; i++) if (fn() !== undefined) sink++
    out.push(Number(process.hrtime.bigint() - t0) / 1000 / n)
  }
  if (sink < 0) console.log(sink)
  return out.sort((a, b) => a - b)[Math.floor(runs / 2)]
}

export async function meshDecode (): Promise<Figure[]> {
  const figures: Figure[] = []
  const cases: Array<[string, unknown, (raw: unknown) => { ok: boolean }]> = [
    ['call', CALL, decodeRpc], ['result', RESULT, decodeRpc], ['error result', ERROR, decodeRpc], ['register', REGISTER, decodeToRegistry]
  ]
  for (const [name, msg, decode] of cases) {
    const bytes = cenc.encode(cenc.json, msg)
    // The JSON text alone, as JSON.parse sees it (after the length prefix).
    const text = JSON.stringify(msg)
    const plain = measure(() => JSON.parse(text))
    const decoded = measure(() => {
      const state: State = { start: 0, end: bytes.byteLength, buffer: bytes }
      const r = decode(safeJson.decode(state))
      if (!r.ok) throw new Error(`${name} does not decode`)
      return r
    })
    const before = measure(() => cenc.json.decode({ start: 0, end: bytes.byteLength, buffer: bytes }))
    const schemaOnly = measure(() => decode(msg))
    figures.push({ name: `decode ${name}: safeJson + schema`, value: round(decoded), unit: 'µs/op', runs: 7, note: `${bytes.byteLength} bytes; ${round(decoded - before)} µs more than before` })
    figures.push({ name: `decode ${name}: c.json (before)`, value: round(before), unit: 'µs/op', runs: 7 })
    figures.push({ name: `decode ${name}: JSON.parse only`, value: round(plain), unit: 'µs/op', runs: 7 })
    figures.push({ name: `decode ${name}: schema only`, value: round(schemaOnly), unit: 'µs/op', runs: 7, note: `the decoder adds ${round(decoded - plain)} µs (${Math.round((decoded / plain - 1) * 100)}% over JSON.parse)` })
  }
  return figures
}

const round = (x: number): number => Math.round(x * 1000) / 1000

if (process.argv[1]?.endsWith('mesh-decode.bench.js') === true) {
  for (const f of await meshDecode()) console.log(JSON.stringify({ suite: 'mesh-decode', node: process.version, ...f }))
}
