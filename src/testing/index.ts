/**
 * peerwarden/testing — virtual time and an in-memory network, for tests and simulation.
 *
 * @module
 */
export { ManualClock } from './manual-clock.js'
export { MemoryNetwork, MemoryNode, MemoryConnection, type DialBehaviour, type MemoryNetworkOptions } from './memory-network.js'
export { TestConnection, testConnection } from './test-connection.js'
export { Simulation, xorshift, type SimulationOptions, type SimNode } from './simulation.js'
