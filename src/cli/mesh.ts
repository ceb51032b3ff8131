/**
 * `peerwarden mesh`: looks at a running mesh and calls it from the shell, as `moleculer-repl` does
 * for Moleculer.
 *
 *   peerwarden mesh status --registry tcp://host:port#<id> [--registry …] [--network-key k] [--json]
 *   peerwarden mesh call Role.command '{"json":"args"}' --registry tcp://host:port#<id> [--registry …]
 *                        [--network-key k] [--role Caller] [--schema ./schema.js] [--timeout 10000]
 *
 * Credentials are what a mesh node joins with: the registries' addresses with their ids (the keys
 * the certificates are checked against) and the mesh's network key, as flags or from the
 * environment (`PEERWARDEN_MESH_REGISTRY`, comma-separated, and `PEERWARDEN_NETWORK_KEY`), and, for a
 * registry whose `authorize` admits nodes by their id, the secret the node's key is derived from
 * (`--key`, `PEERWARDEN_MESH_KEY`).
 *
 * Rules:
 * - `status` asks every registry for its members over the status channel, without joining the
 *   mesh, and prints each role with its instances (variant, state up or draining, peer, addresses,
 *   since when registered, until when certified, how many registries list it, the circuit breakers
 *   other instances hold against it and those it holds, open or half-open: what the nodes last
 *   reported to the registries, at most once a second). A registry that is down or refuses is
 *   reported on its own line; the exit status is 1 only when no registry answered.
 * - `call` joins the mesh as an instance of `--role` (default: the first role of the schema that
 *   may call the target) for the length of the call, waits until an instance of the target role
 *   is reachable (and its connections settled: 200 ms without a change), calls, prints the answer as JSON on standard output and leaves. The schema is
 *   the registry's outline unless `--schema` names a module exporting it (`schema` or default):
 *   a registry with an `authorize` hook shows its outline to members only.
 * - Errors print `peerwarden: <code>: <message>` on standard error: status 1 for a call that
 *   failed, 2 for bad input (an unknown role or command, arguments that are not JSON).
 */
import { resolve as resolvePath } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Command, Option } from 'commander'
import { systemClock } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import { createLogger, levelFromEnv } from '../logger.js'
import { createMeshNode, type MeshNode } from '../mesh/mesh-node.js'
import { askStatus, type MemberStatus, type StatusAnswer } from '../mesh/registry-status.js'
import { Schema, type MeshSchema } from '../mesh/schema.js'
import { createNode } from '../node/node.js'
import { parseTcpAddress } from '../node/transport.js'

/** The flags every `mesh` subcommand takes. */
export interface MeshFlags {
  registry: string[]
  networkKey?: string
  /** The node's key, derived from this secret (a registry's `authorize` may admit it by its id). */
  key?: string
  timeout: number
}

const time = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').slice(0, 19)
const short = (id: string): string => `${id.slice(0, 12)}…`

/** One registry address, checked: it must carry the registry's id. */
function registryOf (address: string): { address: string; id: string } {
  let id: string | undefined
  try { id = parseTcpAddress(address).peer } catch (err) { throw PeerwardenError.invalid(`--registry ${(err as Error).message}`) }
  if (id === undefined) throw PeerwardenError.invalid(`--registry must be tcp://host:port#<registry id> (got ${JSON.stringify(address)})`)
  return { address, id }
}

function registriesOf (flags: MeshFlags): Array<{ address: string; id: string }> {
  const list = flags.registry.flatMap((r) => r.split(',')).map((r) => r.trim()).filter((r) => r.length > 0)
  if (list.length === 0) throw PeerwardenError.invalid('--registry is required (or PEERWARDEN_MESH_REGISTRY): tcp://host:port#<registry id>')
  return list.map(registryOf)
}

/** One breaker between two instances, as `status` shows it: the other instance (role and variant when listed) and the state. */
export interface BreakerEdge { peer: string; role?: string; variant?: string; state: 'open' | 'half-open' }

/** An instance as `status` prints it: merged over the registries that list it. */
export interface InstanceRow extends Omit<MemberStatus, 'health'> {
  registries: string[]
  /** 'draining' once any registry heard it drains; 'up' otherwise (also for a node that reports no health). */
  state: 'up' | 'draining'
  /** The breakers it holds against the instances it calls (not closed). */
  holds: BreakerEdge[]
  /** The breakers other instances hold against it (not closed). */
  against: BreakerEdge[]
}

/** The members of every registry that answered, by role, each instance once, with the breakers between them. */
export function instancesByRole (answers: StatusAnswer[]): Map<string, InstanceRow[]> {
  const byPeer = new Map<string, InstanceRow>()
  for (const a of answers) {
    if (!a.ok) continue
    for (const { health, ...m } of a.status.members) {
      let row = byPeer.get(m.peer)
      if (row === undefined) byPeer.set(m.peer, row = { ...m, registries: [a.id], state: 'up', holds: [], against: [] })
      else {
        row.registries.push(a.id)
        row.expires = Math.max(row.expires, m.expires)
        row.since = Math.min(row.since, m.since)
      }
      if (health === undefined) continue
      if (health.draining) row.state = 'draining'
      // Registries heard the reports at different moments: a breaker one of them saw open stays open.
      for (const b of health.breakers) {
        const known = row.holds.find((h) => h.peer === b.peer)
        if (known === undefined) row.holds.push({ peer: b.peer, state: b.state })
        else if (b.state === 'open') known.state = 'open'
      }
    }
  }
  // A breaker is its holder's word: one against a listed instance of a role the holder's role may not
  // call (an older registry does not drop them), or against itself, is not shown.
  const outline = answers.find((a) => a.ok)
  const mayCall = (from: string, to: string): boolean => {
    if (outline === undefined || !outline.ok) return true
    const allow = outline.status.schema[to]?._allow
    return (outline.status.schema[from]?._connect ?? []).includes(to) && (allow === undefined || allow === 'anyNode' || allow.includes(from))
  }
  for (const row of byPeer.values()) {
    row.holds = row.holds.filter((h) => {
      const target = byPeer.get(h.peer)
      return h.peer !== row.peer && (target === undefined || mayCall(row.role, target.role))
    })
    for (const h of row.holds) {
      const target = byPeer.get(h.peer)
      if (target === undefined) continue
      h.role = target.role
      h.variant = target.variant
      target.against.push({ peer: row.peer, role: row.role, variant: row.variant, state: h.state })
    }
  }
  const out = new Map<string, InstanceRow[]>()
  for (const row of byPeer.values()) {
    const list = out.get(row.role) ?? []
    list.push(row)
    out.set(row.role, list)
  }
  for (const list of out.values()) list.sort((x, y) => x.variant.localeCompare(y.variant))
  return out
}

/** "breaker open at 2 callers, half-open at 1 caller" for the breakers held against an instance; '' for none. */
export function againstText (against: readonly BreakerEdge[]): string {
  const parts: string[] = []
  for (const state of ['open', 'half-open'] as const) {
    const n = against.filter((b) => b.state === state).length
    if (n > 0) parts.push(`${state} at ${n} caller${n === 1 ? '' : 's'}`)
  }
  return parts.length === 0 ? '' : `breaker ${parts.join(', ')}`
}

/** "holds breakers: open against Worker/w1, half-open against 0123456789ab…" for the breakers an instance holds; '' for none. */
export function holdsText (holds: readonly BreakerEdge[]): string {
  if (holds.length === 0) return ''
  return `holds breakers: ${holds.map((h) => `${h.state} against ${h.role !== undefined ? `${h.role}/${h.variant ?? ''}` : short(h.peer)}`).join(', ')}`
}

/** The lines `mesh status` prints for these answers. */
export function statusLines (answers: StatusAnswer[]): string[] {
  const lines: string[] = []
  for (const a of answers) {
    if (a.ok) lines.push(`registry ${short(a.id)} ${a.address.split('#')[0]}: up, ${a.status.members.length} member${a.status.members.length === 1 ? '' : 's'}`)
    else lines.push(`registry ${short(a.id)} ${a.address.split('#')[0]}: ${(a.error as { code?: string }).code ?? 'ERR_UNKNOWN'} ${a.error.message}`)
  }
  const schema = answers.find((a) => a.ok)
  if (schema === undefined || !schema.ok) return lines
  const byRole = instancesByRole(answers)
  const up = answers.filter((a) => a.ok).length
  for (const [role, spec] of Object.entries(schema.status.schema)) {
    const rows = byRole.get(role) ?? []
    const commands = [
      ...Object.keys(spec._commands?._balanced ?? {}),
      ...Object.keys(spec._commands?._broadcast ?? {}).map((c) => `${c} (broadcast)`)
    ]
    lines.push('')
    lines.push(`${role}: ${rows.length} instance${rows.length === 1 ? '' : 's'}${commands.length > 0 ? `; commands ${commands.join(', ')}` : ''}`)
    for (const r of rows) {
      const health = [againstText(r.against), holdsText(r.holds)].filter((x) => x !== '').map((x) => `; ${x}`).join('')
      lines.push(`  ${r.variant}  ${r.state}  peer ${short(r.peer)}  ${r.addresses.join(' ') || '(no address)'}  registered ${time(r.since)}, certified until ${time(r.expires)}, listed by ${r.registries.length}/${up} registr${up === 1 ? 'y' : 'ies'}${health}`)
    }
  }
  return lines
}

/** `peerwarden mesh status`: prints the registries' view; resolves to the exit status. */
export async function meshStatus (flags: MeshFlags & { json?: boolean }, out: (line: string) => void): Promise<number> {
  const registries = registriesOf(flags)
  const node = await createNode({ networkKey: flags.networkKey, seed: flags.key, manager: { lowWater: 0, highWater: 64 } })
  try {
    const answers = await askStatus(node, registries, { timeout: flags.timeout, clock: systemClock })
    if (flags.json === true) {
      out(JSON.stringify({
        registries: answers.map((a) => a.ok ? { address: a.address, id: a.id, ok: true, members: a.status.members.length } : { address: a.address, id: a.id, ok: false, code: (a.error as { code?: string }).code, error: a.error.message }),
        roles: Object.fromEntries(instancesByRole(answers))
      }))
    } else {
      for (const line of statusLines(answers)) out(line)
    }
    return answers.some((a) => a.ok) ? 0 : 1
  } finally {
    await node.close()
  }
}

/** The schema `call` joins with: the module `--schema` names, else the first outline a registry shows. */
async function schemaFor (flags: MeshFlags & { schema?: string }, registries: Array<{ address: string; id: string }>): Promise<MeshSchema> {
  if (flags.schema !== undefined) {
    const mod = await import(pathToFileURL(resolvePath(flags.schema)).href) as { schema?: MeshSchema; default?: MeshSchema }
    const schema = mod.schema ?? mod.default
    if (schema === undefined) throw PeerwardenError.invalid(`--schema ${flags.schema} exports neither schema nor a default`)
    return schema
  }
  const node = await createNode({ networkKey: flags.networkKey, manager: { lowWater: 0, highWater: 64 } })
  try {
    const answers = await askStatus(node, registries, { timeout: flags.timeout, clock: systemClock })
    const first = answers.find((a) => a.ok)
    if (first?.ok === true) return first.status.schema
    const why = answers.map((a) => a.ok ? '' : `${a.address.split('#')[0]}: ${a.error.message}`).join('; ')
    const cause = answers.find((a) => !a.ok)
    throw new PeerwardenError((cause !== undefined && !cause.ok ? (cause.error as PeerwardenError).code : undefined) ?? 'ERR_UNKNOWN', `no registry showed its schema (${why}); give it with --schema`)
  } finally {
    await node.close()
  }
}

/** The role named `name`, or the only one whose name matches it ignoring case (as the schema's references do). */
function roleNamed (schema: Schema, name: string): ReturnType<Schema['role']> {
  const exact = schema.role(name)
  if (exact !== undefined) return exact
  const matches = [...schema.roles.keys()].filter((r) => r.toLowerCase() === name.toLowerCase())
  return matches.length === 1 ? schema.role(matches[0]) : undefined
}

/** `Role.command` and the JSON arguments, checked against the schema; and the role the CLI joins as. */
export function planCall (schemaSpec: MeshSchema, target: string, json: string | undefined, role: string | undefined): { role: string; target: string; command: string; args: unknown } {
  const dot = target.indexOf('.')
  if (dot <= 0 || dot === target.length - 1) throw PeerwardenError.invalid(`the target must be Role.command (got ${JSON.stringify(target)})`)
  const schema = new Schema(schemaSpec)
  const targetRole = roleNamed(schema, target.slice(0, dot))
  if (targetRole === undefined) throw PeerwardenError.invalid(`no role ${JSON.stringify(target.slice(0, dot))} in the mesh (roles: ${[...schema.roles.keys()].join(', ')})`)
  const command = target.slice(dot + 1)
  if (!targetRole.commands.has(command)) throw new PeerwardenError('ERR_UNKNOWN_COMMAND', `${targetRole.name} has no command ${JSON.stringify(command)} (commands: ${[...targetRole.commands.keys()].join(', ') || 'none'})`)
  let args: unknown = {}
  if (json !== undefined) {
    try { args = JSON.parse(json) } catch (err) { throw PeerwardenError.invalid(`the arguments are not JSON: ${(err as Error).message}`) }
  }
  let me: string | undefined
  if (role !== undefined) {
    me = roleNamed(schema, role)?.name
    if (me === undefined) throw PeerwardenError.invalid(`--role ${JSON.stringify(role)} is not in the schema`)
    if (!schema.canCall(me, targetRole.name)) throw new PeerwardenError('ERR_NOT_ALLOWED', `${me} may not call ${targetRole.name} (schema _connect/_allow)`)
  } else {
    me = [...schema.roles.keys()].find((r) => r !== targetRole.name && schema.canCall(r, targetRole.name)) ?? (schema.canCall(targetRole.name, targetRole.name) ? targetRole.name : undefined)
    if (me === undefined) throw new PeerwardenError('ERR_NOT_ALLOWED', `no role of the schema may call ${targetRole.name}`)
  }
  return { role: me, target: targetRole.name, command, args }
}

/** `peerwarden mesh call`: joins, calls, prints the answer; resolves to the exit status. */
export async function meshCall (target: string, json: string | undefined, flags: MeshFlags & { role?: string; schema?: string; variant?: string }, out: (line: string) => void): Promise<number> {
  const registries = registriesOf(flags)
  const schema = await schemaFor(flags, registries)
  const plan = planCall(schema, target, json, flags.role)
  const level = levelFromEnv() ?? 'warn'
  const mesh: MeshNode = await createMeshNode({
    schema,
    role: plan.role,
    variant: flags.variant ?? `cli-${process.pid}`,
    registries: registries.map((r) => r.address),
    networkKey: flags.networkKey,
    seed: flags.key,
    registerTimeout: flags.timeout,
    logger: createLogger({ level, bindings: { component: 'peerwarden mesh call' } })
  })
  try {
    await mesh.ready(plan.target, { timeout: flags.timeout })
    await quiet(mesh, 200, flags.timeout)
    const calls = mesh.call as unknown as Record<string, Record<string, (args: unknown, opts: { timeout: number }) => Promise<unknown>>>
    const answer = await calls[plan.target][plan.command](plan.args, { timeout: flags.timeout })
    out(JSON.stringify(answer ?? null, null, 2))
    return 0
  } finally {
    await mesh.close()
  }
}

/**
 * Resolves once the node under `mesh` had no connection or disconnection for `ms` (at most `limit`).
 * A node that joins and an instance that hears of it dial each other at once, and the node keeps one
 * of the two connections a moment later; a call sent on the other one fails with
 * ERR_CONNECTION_CLOSED. A one-shot command waits for that to be over rather than retry a call that
 * may not be idempotent.
 */
async function quiet (mesh: MeshNode, ms: number, limit: number): Promise<void> {
  let last = Date.now()
  const bump = (): void => { last = Date.now() }
  const started = last
  mesh.node.events.addEventListener('connection', bump)
  mesh.node.events.addEventListener('disconnection', bump)
  try {
    while (Date.now() - last < ms && Date.now() - started < limit) {
      await new Promise((resolve) => setTimeout(resolve, ms - (Date.now() - last) + 1))
    }
  } finally {
    mesh.node.events.removeEventListener('connection', bump)
    mesh.node.events.removeEventListener('disconnection', bump)
  }
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

function positiveInteger (value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw PeerwardenError.invalid('--timeout must be a positive integer of ms')
  return n
}

/** Adds `mesh status` and `mesh call` to the `peerwarden` command. */
export function addMeshCommands (program: Command, out: (line: string) => void = (l) => { process.stdout.write(l + '\n') }): void {
  const mesh = program.command('mesh').description('look at a running mesh and call it (as moleculer-repl does)')
  const common = (cmd: Command): Command => cmd
    .addOption(new Option('--registry <address>', 'a registry of the mesh, tcp://host:port#<id> (repeatable, or comma-separated)').env('PEERWARDEN_MESH_REGISTRY').argParser(collect))
    .addOption(new Option('--network-key <key>', 'the mesh\'s network key').env('PEERWARDEN_NETWORK_KEY'))
    .addOption(new Option('--key <secret>', 'the node\'s key pair is derived from this secret (default: a new key): for a registry that admits nodes by their id').env('PEERWARDEN_MESH_KEY'))
    .option('--timeout <ms>', 'how long to wait for the registries, the instance and the answer', positiveInteger, 10_000)
  // An empty PEERWARDEN_NETWORK_KEY is no key; an empty --network-key is a mistake, named.
  mesh.hook('preAction', (_group, action) => {
    if (action.opts().networkKey !== '') return
    if (action.getOptionValueSource('networkKey') === 'cli') throw PeerwardenError.invalid('--network-key must not be empty (leave it out for the network of every node without a key)')
    action.setOptionValue('networkKey', undefined)
  })
  const done = (code: number): void => { process.exit(code) }
  common(mesh.command('status'))
    .description('the roles, their instances and what the registries know of them')
    .option('--json', 'one JSON object instead of lines')
    .action(async (o: { registry?: string[]; networkKey?: string; key?: string; timeout: number; json?: boolean }) => {
      done(await exitCodeOf(() => meshStatus({ ...o, registry: o.registry ?? [] }, out)))
    })
  common(mesh.command('call'))
    .description('call Role.command with JSON arguments and print the answer')
    .argument('<target>', 'Role.command')
    .argument('[json]', 'the arguments, as JSON (default {})')
    .option('--role <role>', 'the role to join as (default: the first that may call the target)')
    .option('--variant <name>', 'the instance name to join with (default cli-<pid>)')
    .option('--schema <module>', 'a module exporting the schema (schema or default); default: the registry\'s outline')
    .action(async (target: string, json: string | undefined, o: { registry?: string[]; networkKey?: string; key?: string; timeout: number; role?: string; variant?: string; schema?: string }) => {
      done(await exitCodeOf(() => meshCall(target, json, { ...o, registry: o.registry ?? [] }, out)))
    })
}

/**
 * Runs a mesh command: its exit code, or an error written as `peerwarden: CODE: message (cause)` on
 * standard error with 2 for a wrong invocation and 1 for a failure (the same for every subcommand).
 */
async function exitCodeOf (command: () => Promise<number>): Promise<number> {
  try {
    return await command()
  } catch (err) {
    const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } }
    const cause = e.cause?.code !== undefined ? ` (${e.cause.code}: ${e.cause.message ?? ''})` : ''
    process.stderr.write(`peerwarden: ${e.code ?? 'ERR_UNKNOWN'}: ${e.message ?? String(err)}${cause}\n`)
    return e.code === 'ERR_INVALID_ARGUMENT' || e.code === 'ERR_UNKNOWN_COMMAND' ? 2 : 1
  }
}
