import { labUnsupported } from '../../src/lab/shell.js'

/**
 * Why the lab tests cannot run here, or undefined when they can. On CI (`CI=true`, run as root with
 * nftables installed) a lab that cannot run is a failure, not a skip.
 */
export function labSkip (): string | undefined {
  const why = labUnsupported()
  if (why !== undefined && process.env.CI === 'true') throw new Error(`the lab tests must run on CI: ${why}`)
  return why
}
