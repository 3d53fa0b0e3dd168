/** Gateway status from The Things Stack's Gateway Server: a poller that reports online, offline and statistics. */
export { GatewayPoller, apiRoot, DEFAULT_INTERVAL_MS, MIN_INTERVAL_MS, BATCH_LIMIT, type GatewayPollerOptions, type GatewayReport, type GatewayProblem, type PollerStatus } from './poller'
export { judgeGateway, parseGatewayIds, gatewayIdProblem, DEFAULT_STALE_AFTER_MS, type GatewayConnectionStats, type GatewayState, type OfflineReason } from './stats'
