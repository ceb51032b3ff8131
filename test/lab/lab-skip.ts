import { labUnsupported } from '../../src/lab/shell.js'

/**
 * Why the lab tests cannot run here, or undefined when they can. On CI (`CI=true`, run as root with
 * nftables installed) a lab that cannot run is a failure, not a skip. `why` and `env` are the
 * machine's unless given (tests).
 */
export function labSkip (why: string | undefined = labUnsupported(), env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (why !== undefined && env.CI === 'true') throw new Error(`the lab tests must run on CI: ${why}`)
  return why
}
