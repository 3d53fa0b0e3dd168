// Node-RED loads this file (package.json "node-red".nodes). The nodes are written in TypeScript
// and compiled to dist/; this entry only points at the built code so the HTML, icons and locales
// can sit beside it, where Node-RED looks for them.
module.exports = require('../dist/src/nodes/index.js').default
