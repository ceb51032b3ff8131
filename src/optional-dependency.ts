import { createRequire } from 'node:module'
import { PeerwardenError } from './errors.js'

/**
 * Loads an optional peer dependency (ioredis, prom-client, better-sqlite3, libp2p's multiaddr) at the
 * point of use, so that an application which never uses the feature never installs the package.
 *
 * Rules:
 * - Only "this package is not installed" becomes `ERR_MISSING_DEPENDENCY`, whose message names the
 *   package, the feature, and the command that installs it (`install`: the packages to name, the
 *   one to install first; default just `name`); the resolution failure is its `cause`.
 *   Any other failure (the package is there but fails to load, say a native module built for another
 *   Node) is thrown as it is.
 * - `requireOptional` is synchronous (CommonJS packages, or ESM ones through require(esm));
 *   `importOptional` is for ESM-only packages.
 */
export function requireOptional<T> (name: string, feature: string, install: readonly string[] = [name]): T {
  try {
    return createRequire(import.meta.url)(name) as T
  } catch (err) {
    throw notInstalled(err, name, feature, install) ?? err
  }
}

/** `requireOptional` for ESM-only packages: resolved and loaded with `import()`. */
export async function importOptional<T> (name: string, feature: string, install: readonly string[] = [name]): Promise<T> {
  try {
    return await import(name) as T
  } catch (err) {
    throw notInstalled(err, name, feature, install) ?? err
  }
}

/** The error to throw when `name` is not installed (`err` says it cannot be found), else undefined. */
export function notInstalled (err: unknown, name: string, feature: string, install: readonly string[] = [name]): PeerwardenError | undefined {
  const code = (err as { code?: unknown } | null)?.code
  if (code !== 'MODULE_NOT_FOUND' && code !== 'ERR_MODULE_NOT_FOUND') return undefined
  // Only the package itself: a package that is there but misses one of its own dependencies is broken, not absent.
  if (!String((err as Error).message).includes(`'${name}'`)) return undefined
  return new PeerwardenError('ERR_MISSING_DEPENDENCY', `install ${install[0]} to use ${feature}: npm install ${install.join(' ')}`, { cause: err })
}
