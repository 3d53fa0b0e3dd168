// The simulated The Things Stack MQTT server, for tests and the demo. Not part of the published package
// (package.json "files" leaves dist/src/simulator out): it depends on aedes, a dev dependency.
export * from './downlink-rules'
export * from './messages'
export * from './tts-broker'
export * from './storage'
export * from './http-api'
