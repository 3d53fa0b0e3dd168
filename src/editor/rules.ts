/**
 * The SDK's rules for the Node-RED editor: `npm run build` bundles this module and the SDK modules it
 * imports into resources/ttn-rules.js (scripts/build-editor-rules.ts), which Node-RED serves at
 * /resources/node-red-contrib-things-stack/ttn-rules.js and nodes/ttn.html loads as `TtnRules`.
 * The dialog's checks are these functions, not copies of them; test/e2e/rules-parity.test.ts feeds one
 * table of inputs to the editor and to the SDK and requires the same answers.
 * Only modules that run in a browser may be imported here (no node:*, no Buffer).
 */
export { checkId, deriveTenant, idProblem, isPublicTtsHost, parseAddress, resolveIdentity, tlsOverrideFor } from '../sdk/address'
export { apiKeyKind } from '../sdk/api-key'
export { applicationPort, MAX_PORT, MIN_PORT } from '../sdk/fport'
export { normalizeBaseUrl } from '../sdk/recovery/base-url'
export { sharedGroupProblem, topicPrefixProblem } from '../sdk/topics'
export { describeConnection, tlsImplied } from './connection'
export { CLOUD_CLUSTERS, cloudHost, hostOf, networkOf, readServerInput, TTN_CLUSTERS } from './server-input'
