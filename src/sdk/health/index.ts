/** Device health: records per device fed by the uplink stream, and watches that report silence, return and summaries. */
export { HealthTracker, type HealthTrackerOptions } from './tracker'
export { HealthWatch, type HealthEvent, type HealthEventName, type HealthListener, type WatchOptions, type WatchedDeviceHealth, type AppHealth } from './watch'
export { DeviceRecord, RESET_BELOW, DEFAULT_LEARNING, type DeviceHealth, type LearningOptions } from './record'
export { RunningStats, type StatsSummary } from './stats'
export { readUplinkFacts, emptyFacts, type UplinkFacts } from './facts'
export { healthTrackerFor, seesSharedTraffic, RELEASE_GRACE_MS } from './attach'
