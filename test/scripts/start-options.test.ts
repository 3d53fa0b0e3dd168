// `npm start` options (scripts/start-options.ts): the simulator by default, a real application from
// flags or environment variables, and a clear message for each mistake.

import assert from 'node:assert/strict'
import { join } from 'node:path'
import { parseStartOptions, UsageError } from '../../scripts/start-options'

const REPO = '/repo'
const KEY = 'NNSXS.TESTOPTIONS.TESTSECRET'
const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseStartOptions(argv, env, REPO)

describe('npm start options', () => {
  it('defaults: the simulator, port 1880 (not asked for), .demo/ in the repository, Node-RED 4, 15 s', () => {
    const c = parse([])
    assert.equal(c.application, undefined)
    assert.deepEqual(
      [c.port, c.portExplicit, c.userDir, c.nodeRed, c.intervalMs, c.reset],
      [1880, false, join(REPO, '.demo'), 4, 15000, false],
    )
  })

  it('a real application from environment variables: eu1 by default, TLS, the tenant derived later', () => {
    const c = parse([], { TTN_APP_ID: 'my-app', TTN_API_KEY: KEY, PORT: '1990' })
    assert.deepEqual(c.application, {
      appId: 'my-app',
      apiKey: KEY,
      server: 'eu1.cloud.thethings.network',
      tenant: '',
      tls: true,
    })
    assert.deepEqual([c.port, c.portExplicit], [1990, true])
  })

  it('flags win over variables; clusters, servers, tenant and device', () => {
    const env = { TTN_APP_ID: 'env-app', TTN_API_KEY: KEY, TTN_CLUSTER: 'au1' }
    assert.equal(parse(['--cluster', 'nam1'], env).application?.server, 'nam1.cloud.thethings.network')
    const cloud = parse(
      ['--app', 'flag-app', '--server', 'acme.eu1.cloud.thethings.industries', '--device', 'dev-1'],
      { TTN_API_KEY: KEY },
    )
    assert.deepEqual(cloud.application, {
      appId: 'flag-app',
      apiKey: KEY,
      server: 'acme.eu1.cloud.thethings.industries',
      tenant: '',
      tls: true,
      deviceId: 'dev-1',
    })
    const local = parse([
      '--app',
      'os-app',
      '--key',
      KEY,
      '--server',
      'mqtt://10.0.0.5:1883',
      '--tenant',
      'acme',
    ])
    assert.deepEqual([local.application?.tls, local.application?.tenant], [false, 'acme'])
    assert.equal(parse(['--node-red', '5', '--interval', '0.5', '--reset', '--user-dir', 'x']).nodeRed, 5)
  })

  it('refuses mistakes with a message that says what to do', () => {
    const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [['--app', 'my-app'], {}, /No API key for my-app: set TTN_API_KEY/],
      [['--app', 'My_App', '--key', KEY], {}, /"My_App" is not an application ID/],
      [['--app', 'my-app', '--key', 'NNSXS.A B'], {}, /white space/],
      [
        ['--app', 'my-app', '--key', KEY, '--cluster', 'eu2'],
        {},
        /Unknown cluster "eu2".*eu1, nam1, au1.*TTN_SERVER/,
      ],
      [
        ['--app', 'my-app', '--key', KEY, '--cluster', 'eu1', '--server', 'h'],
        {},
        /either a cluster .* or a server/,
      ],
      [['--cluster', 'eu1'], {}, /without an application: set TTN_APP_ID/],
      [['--port', '70000'], {}, /not a port number/],
      [[], { PORT: 'abc' }, /"abc" is not a port number/],
      [['--node-red', '3'], {}, /--node-red takes 4 or 5/],
      [['--interval', '0'], {}, /--interval takes seconds/],
      [['--app', 'my-app', '--key', KEY, '--device', 'Dev'], {}, /"Dev" is not a device ID/],
      [['--bogus'], {}, /Unknown option '--bogus'/],
    ]
    for (const [argv, env, message] of cases) {
      assert.throws(
        () => parse(argv, env),
        (err: Error) => err instanceof UsageError && message.test(err.message),
        `${argv.join(' ')} → ${message}`,
      )
    }
  })
})
