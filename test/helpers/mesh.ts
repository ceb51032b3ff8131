import type { TestContext } from 'node:test'
import { createMeshNode, createRegistry, type MeshNode, type MeshNodeOptions, type MeshSchema } from '../../src/mesh/index.js'

/** A mesh node's options as `meshOn` takes them: the schema defaults to the registry's. */
export type MeshStartOptions<S extends MeshSchema> = Omit<MeshNodeOptions<S>, 'schema' | 'registry'> & { schema?: MeshSchema }

/** An open registry of `schema` on 127.0.0.1 and a way to start mesh nodes on it (all closed after the test). */
export async function meshOn<S extends MeshSchema> (t: TestContext, schema: S): Promise<(options: MeshStartOptions<S>) => Promise<MeshNode<S>>> {
  const registry = await createRegistry({ schema, open: true, listen: ['tcp://127.0.0.1:0'] })
  t.after(async () => { await registry.close() })
  return async (options) => {
    const m = await createMeshNode({ schema, registry: registry.addresses[0], listen: ['tcp://127.0.0.1:0'], ...options } as MeshNodeOptions<S>)
    t.after(async () => { await m.close() })
    return m
  }
}

/** Resolves once `m` lists `n` instances of `role` (waits for 'connection' events, no polling). */
export async function instancesOf (m: MeshNode<any>, role: string, n: number): Promise<void> {
  if (m.instances(role).length >= n) return
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if (m.instances(role).length < n) return
      m.events.removeEventListener('connection', check)
      resolve()
    }
    m.events.addEventListener('connection', check)
  })
}
