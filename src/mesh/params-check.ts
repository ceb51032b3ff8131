import type * as v from 'valibot'

/**
 * A command's `params` compiled once into plain checks, for the shapes calls mostly carry: valibot's
 * own run allocates a dataset per value and walks its pipes generically, which cost as much as
 * parsing the message itself at 100 calls in flight (and it runs at both ends of every call).
 *
 * Rules:
 * - `compiledParams(schema)` gives a check for a schema made only of the parts listed below, else
 *   undefined (valibot runs alone). It is compiled on first use and kept per schema object.
 * - A check says `FAILED` or gives valibot's output: the same values in the same key order. With
 *   `build`, an object whose own keys are the schema's (in its order) and an array are given back as
 *   they are when nothing in them changed (valibot would make an equal copy: the responder's
 *   arguments come fresh from JSON.parse, nobody else holds them); anything else is a fresh object
 *   with the schema's keys only. Without `build`, always the input itself (the caller only asks
 *   whether the arguments pass).
 * - It never decides a refusal on its own: on `FAILED` (or a throw) the caller of this module runs
 *   valibot, whose issue names the field. So a check that said `FAILED` for a value valibot accepts
 *   would only be slower; one that accepted a value valibot refuses would be a bug (a property test
 *   compares the two on random schemas and values).
 * - Parts compiled: `string`, `number` (not NaN), `boolean`, `null`, `literal`, `picklist`,
 *   `unknown`, `any`, `optional` / `nullable` / `nullish` without a default, `array`, `object`
 *   (unknown keys dropped, missing keys refused unless optional), and pipes of those with the
 *   validations `min_length`, `max_length`, `length`, `non_empty`, `min_value`, `max_value`
 *   (number bounds), `integer`, `finite`, `safe_integer` and `regex` (without the `g` or `y` flag:
 *   those keep state between tests). Anything else (a transformation, `check`, a default, a fallback,
 *   another schema type) leaves the whole schema to valibot.
 */

/** A check's refusal: valibot then says why. */
export const FAILED: unique symbol = Symbol('params check failed')

/** A compiled check: the output (fresh objects and arrays with `build`), or `FAILED`. */
export type ParamsCheck = (input: unknown, build: boolean) => unknown

/** Nested schemas compiled at most this deep (deeper ones are valibot's). */
const MAX_DEPTH = 32

/** A schema or pipe item, as far as it is read here (valibot's objects, looked at loosely). */
interface Part {
  kind?: unknown
  type?: unknown
  async?: unknown
  pipe?: unknown
  entries?: Record<string, Part>
  item?: Part
  wrapped?: Part
  default?: unknown
  fallback?: unknown
  literal?: unknown
  options?: unknown
  requirement?: unknown
}

const compiled = new WeakMap<object, ParamsCheck | null>()

/** The compiled check of `schema`, or undefined if it has a part this module does not compile. */
export function compiledParams (schema: v.GenericSchema): ParamsCheck | undefined {
  let check = compiled.get(schema)
  if (check === undefined) {
    check = compile(schema as Part, 0) ?? null
    compiled.set(schema, check)
  }
  return check ?? undefined
}

const identity: ParamsCheck = (x) => x

function compile (s: Part, depth: number): ParamsCheck | undefined {
  if (depth > MAX_DEPTH || s === null || typeof s !== 'object' || s.kind !== 'schema' || s.async !== false || s.fallback !== undefined) return undefined
  if (s.pipe !== undefined) return compilePipe(s.pipe, depth)
  switch (s.type) {
    case 'string': return (x) => typeof x === 'string' ? x : FAILED
    case 'number': return (x) => typeof x === 'number' && !Number.isNaN(x) ? x : FAILED
    case 'boolean': return (x) => typeof x === 'boolean' ? x : FAILED
    case 'null': return (x) => x === null ? x : FAILED
    case 'unknown':
    case 'any': return identity
    case 'literal': {
      const literal = s.literal
      return (x) => x === literal ? x : FAILED
    }
    case 'picklist': {
      if (!Array.isArray(s.options)) return undefined
      const options: readonly unknown[] = s.options
      return (x) => options.includes(x) ? x : FAILED
    }
    case 'optional':
    case 'nullable':
    case 'nullish': return wrapper(s, depth)
    case 'array': return array(s, depth)
    case 'object': return object(s, depth)
    default: return undefined
  }
}

/** optional (undefined passes), nullable (null), nullish (both); a default makes it valibot's. */
function wrapper (s: Part, depth: number): ParamsCheck | undefined {
  if (s.default !== undefined || s.wrapped === undefined) return undefined
  const inner = compile(s.wrapped, depth + 1)
  if (inner === undefined) return undefined
  if (s.type === 'optional') return (x, build) => x === undefined ? x : inner(x, build)
  if (s.type === 'nullable') return (x, build) => x === null ? x : inner(x, build)
  return (x, build) => x === undefined || x === null ? x : inner(x, build)
}

function array (s: Part, depth: number): ParamsCheck | undefined {
  if (s.item === undefined) return undefined
  const item = compile(s.item, depth + 1)
  if (item === undefined) return undefined
  return (x, build) => {
    if (!Array.isArray(x)) return FAILED
    let out: unknown[] | undefined
    for (let i = 0; i < x.length; i++) {
      const value: unknown = x[i]
      const y = item(value, build)
      if (y === FAILED) return FAILED
      // A copy only once an item came out as another value (an object of its own, stripped).
      if (y !== value && out === undefined && build) out = x.slice(0, i)
      out?.push(y)
    }
    return out ?? x
  }
}

function object (s: Part, depth: number): ParamsCheck | undefined {
  if (s.entries === null || typeof s.entries !== 'object') return undefined
  const keys: string[] = []
  const checks: ParamsCheck[] = []
  const optional: boolean[] = []
  for (const key in s.entries) {
    // Valibot's output is built by assignment: this key would set the prototype.
    if (key === '__proto__') return undefined
    const entry = s.entries[key]
    const check = compile(entry, depth + 1)
    if (check === undefined) return undefined
    keys.push(key)
    checks.push(check)
    optional.push(entry.type === 'optional' || entry.type === 'nullish')
  }
  return (x, build) => {
    if (x === null || typeof x !== 'object') return FAILED
    const input = x as Record<string, unknown>
    let out: Record<string, unknown> | undefined
    let present = 0
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]
      // `in`, as valibot asks (a key present with the value undefined is checked as undefined).
      if (!(key in input)) {
        if (optional[i]) continue
        return FAILED
      }
      present++
      const value = input[key]
      const y = checks[i](value, build)
      if (y === FAILED) return FAILED
      if (y !== value && out === undefined && build) out = pick(input, keys, i)
      if (out !== undefined) out[key] = y
    }
    if (out !== undefined || !build) return out ?? x
    // Nothing changed below: the input itself if its own keys are ours, in our order (valibot's copy
    // would be equal to it); else a copy with our keys only.
    return ownKeysAre(input, keys, present) ? input : pick(input, keys, keys.length)
  }
}

/** A new object with the keys of `keys[0, end)` that are in `input`, in that order. */
function pick (input: Record<string, unknown>, keys: readonly string[], end: number): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (let i = 0; i < end; i++) if (keys[i] in input) out[keys[i]] = input[keys[i]]
  return out
}

/** Is `input` a plain object whose own enumerable keys are exactly the `present` keys of `keys` it has, in the same order? */
function ownKeysAre (input: Record<string, unknown>, keys: readonly string[], present: number): boolean {
  // An array, or an object of another prototype, passes valibot's object check too, and comes out as a plain object.
  if (Object.getPrototypeOf(input) !== Object.prototype) return false
  const own = Object.keys(input)
  if (own.length !== present) return false
  let j = 0
  for (const key of keys) {
    if (!(key in input)) continue
    if (own[j++] !== key) return false
  }
  return true
}

/** A pipe: its schema, then validations only (and metadata) (a transformation or a schema later on is valibot's). */
function compilePipe (pipe: unknown, depth: number): ParamsCheck | undefined {
  if (!Array.isArray(pipe) || pipe.length === 0) return undefined
  const base = compile(pipe[0] as Part, depth + 1)
  if (base === undefined) return undefined
  const tests: Array<(x: unknown) => boolean> = []
  for (const action of pipe.slice(1) as Part[]) {
    // A title or a description: valibot skips it too.
    if (action !== null && typeof action === 'object' && action.kind === 'metadata') continue
    const test = validation(action)
    if (test === undefined) return undefined
    tests.push(test)
  }
  return (x, build) => {
    const y = base(x, build)
    if (y === FAILED) return FAILED
    for (const test of tests) if (!test(y)) return FAILED
    return y
  }
}

/** A validation's test, written as valibot's own (`length` read as it reads it). */
/** What a length validation reads (valibot reads `.length` of whatever it is given, and so do we). */
type Sized = { length: number }

function validation (a: Part): ((x: unknown) => boolean) | undefined {
  if (a === null || typeof a !== 'object' || a.kind !== 'validation' || a.async !== false) return undefined
  const r = a.requirement
  switch (a.type) {
    case 'min_length': return typeof r === 'number' ? (x) => !((x as Sized).length < r) : undefined
    case 'max_length': return typeof r === 'number' ? (x) => !((x as Sized).length > r) : undefined
    case 'length': return typeof r === 'number' ? (x) => (x as Sized).length === r : undefined
    case 'non_empty': return (x) => (x as Sized).length !== 0
    case 'min_value': return typeof r === 'number' ? (x) => (x as number) >= r : undefined
    case 'max_value': return typeof r === 'number' ? (x) => (x as number) <= r : undefined
    case 'integer': return (x) => Number.isInteger(x)
    case 'finite': return (x) => Number.isFinite(x)
    case 'safe_integer': return (x) => Number.isSafeInteger(x)
    case 'regex': return r instanceof RegExp && !r.global && !r.sticky ? (x) => r.test(x as string) : undefined
    default: return undefined
  }
}
