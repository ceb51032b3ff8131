export { serveDashboard, type Dashboard, type DashboardOptions } from './server.js'
export { ManagerMetrics } from './metrics.js'
export type { NetworkSource, NetworkNode, MeshSource, MeshInstance } from './sources.js'
export type { HistoryOptions } from './history.js'
