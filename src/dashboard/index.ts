export { serveDashboard, type Dashboard, type DashboardOptions } from './server.js'
export { ManagerMetrics, type MetricsOptions, type NodeFigures, type NodeMetricsSource } from './metrics.js'
export { serveMetrics, type MetricsServer, type MetricsServerOptions } from './metrics-server.js'
export { CLOSE_REASONS, TRIM_REASONS, ERROR_CODES } from './metrics-labels.js'
