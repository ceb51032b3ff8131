import type { CallOptions, MeshCalls, MeshSchema, Schema } from './schema.js'

/** Makes one call of `role`.`name` (the caller's `invoke`, with its deadline and trace bound). */
export type Invoke = (role: string, name: string, args?: unknown, opts?: CallOptions) => Promise<unknown>

/**
 * The `calls.Role.command(args, opts)` shape of `mesh.call` and `ctx.call` (also
 * `calls.Role.command.call(args, opts)`, socketmesh's form), over `invoke`.
 *
 * Rules:
 * - The functions of the schema's roles and commands are made once per proxy, not on every property
 *   access; other names (which fail at call time, in `invoke`) are not kept, so a caller spelling
 *   names at random grows nothing.
 * - A symbol reads as undefined.
 */
export function callProxy<S extends MeshSchema> (schema: Schema, invoke: Invoke): MeshCalls<S> {
  const roles = new Map<string, object>()
  const roleCalls = (role: string): object => {
    const fns = new Map<string, (args?: unknown, opts?: CallOptions) => Promise<unknown>>()
    return new Proxy({}, {
      get: (_u, name) => {
        if (typeof name !== 'string') return undefined
        let fn = fns.get(name)
        if (fn === undefined) {
          fn = (args?: unknown, opts?: CallOptions) => invoke(role, name, args, opts)
          // The socketmesh form `call.Role.command.call(args)` is the same call (not Function.prototype.call).
          Object.defineProperty(fn, 'call', { value: fn })
          if (schema.role(role)?.commands.has(name) === true) fns.set(name, fn)
        }
        return fn
      }
    })
  }
  return new Proxy({}, {
    get: (_t, role) => {
      if (typeof role !== 'string') return undefined
      let r = roles.get(role)
      if (r === undefined) {
        r = roleCalls(role)
        if (schema.role(role) !== undefined) roles.set(role, r)
      }
      return r
    }
  }) as MeshCalls<S>
}
