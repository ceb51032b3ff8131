import type { MeshSchema } from '../../src/mesh/index.js'

/**
 * The sample schema of socketmesh's documentation, copied verbatim — its loose role names ('nodeB'),
 * handlers inline, queued handler logging what it got — so the tests can show it runs unchanged.
 */
/* eslint-disable */
export const SOCKETMESH_SAMPLE: MeshSchema = {

    NodeA: {
      _allow: 'anyNode',
      _connect: ['nodeB'],
      _commands: {
        _balanced: {
          sampleRespondingMethod: ({test}) => {
            return { command: test }
          }
        },
        _broadcast: {
          sampleRespondingBroadcastMethod: {
            responds: true,
            method: ({test}) => {
              return { command: test }
            }
          },
          sampleQueuedBroadcastMethod: {
            queued: true,
            method: ({test}) => {
              console.log({ command: test })
            }
          }
        }
      }
    },

    NodeB: {
      _allow: ['nodeB'],
      _connect: ['NodeA'],
      _commands: {
        _balanced: {
          sampleRespondingMethod: ({test}) => {
            return { command: test }
          }
        },
        _broadcast: {
          sampleRespondingBroadcastMethod: {
            responds: true,
            method: ({test}) => {
              return { command: test }
            }
          },
          sampleQueuedBroadcastMethod: {
            queued: true,
            method: ({test}) => {
              console.log({ command: test })
            }
          }
        }
      }
    }

}
/* eslint-enable */
