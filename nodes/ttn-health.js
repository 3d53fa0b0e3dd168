// Node-RED loads this file (package.json "node-red".nodes): the health node set, ttn-monitor and
// ttn-gateway, built from TypeScript into dist/; the HTML, icons and locales sit beside this entry.
module.exports = require('../dist/src/nodes/ttn-health.js').default
