export { serveDashboard, type Dashboard, type DashboardOptions } from './server.js'
export { ManagerMetrics } from './metrics.js'
