/** Payload codecs: The Things Stack's formatters, run locally and sandboxed. */
export { loadCodec } from './load'
export { CodecLoadError, DEFAULT_LIMITS } from './sandbox'
export type * from './types'
export { openDeviceRepository } from './repository'
export type {
  DeviceRepository,
  DeviceRepositoryOptions,
  ResolvedCodec,
  CodecDefinition,
  CodecExample,
} from './repository'
export { DEVICE_REPOSITORY_URL } from './repository-source'
export { REGION_BY_BAND_ID } from './regions'
export { checkCodecExamples, checkRepositoryExamples, formatMismatches, jsonEqual } from './examples'
export type { ExampleContext, ExampleMismatch, ExamplesReport } from './examples'
