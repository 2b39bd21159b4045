import { addressesOnly, configuredServers, staleServers } from '../../src/proxy/haproxy-state.js'

// The server-state file a reload hands on: addresses from the old process, everything else as the
// new configuration says (a real HAProxy 2.6 kept a server stopped that the new files enabled).

const HEADER =
  '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port'
const line = (be: string, srv: string, addr: string, op: number, admin: number, uweight: number, iweight: number) =>
  `3 ${be} 1 ${srv} ${addr} ${op} ${admin} ${uweight} ${iweight} 9 1 0 4 0 0 0 0 ${be}-${srv} 3000 - 0 0 - - 0`

describe('configuredServers', () => {
  it('reads each backend server and whether it is disabled, from *.cfg files only', () => {
    const files = new Map([
      ['00-base.cfg', 'global\n  maxconn 10\nbackend cutover_acme\n  server acme p-acme:8402 resolvers docker init-addr last,none\nfrontend f\n  bind :80\n'],
      ['app-web.cfg', 'backend app_web\n  server blue web-blue:3000 resolvers docker init-addr last,none disabled\n  server green web-green:3000 weight 20\n'],
      ['verify-web.map', 'backend app_other\n  server x y:1 disabled\n']
    ])
    expect([...configuredServers(files)]).toEqual([
      ['cutover_acme/acme', false],
      ['app_web/blue', true],
      ['app_web/green', false]
    ])
  })
})

describe('addressesOnly', () => {
  const configured = new Map([
    ['app_web/blue', true],
    ['app_web/green', false]
  ])

  it('keeps addresses; states and weights become the new configuration: a server the files now enable is running and ready', () => {
    const state = ['1', HEADER, line('app_web', 'blue', '172.19.0.7', 2, 0, 80, 80), line('app_web', 'green', '172.19.0.8', 0, 5, 1, 20), ''].join('\n')
    expect(addressesOnly(state, configured)!.split('\n')).toEqual([
      '1',
      HEADER,
      line('app_web', 'blue', '172.19.0.7', 2, 5, 80, 80),
      line('app_web', 'green', '172.19.0.8', 2, 0, 20, 20),
      ''
    ])
  })

  it('hands on the address the run just read for a server it names, over the old process’s (a replaced container)', () => {
    const state = ['1', HEADER, line('app_web', 'blue', '172.19.0.5', 0, 5, 1, 1), line('app_web', 'green', '172.19.0.3', 2, 0, 1, 1), ''].join('\n')
    const current = new Map([['app_web/blue', '172.19.0.4']])
    expect(addressesOnly(state, configured, current)!.split('\n')).toEqual([
      '1',
      HEADER,
      line('app_web', 'blue', '172.19.0.4', 2, 5, 1, 1),
      line('app_web', 'green', '172.19.0.3', 2, 0, 1, 1),
      ''
    ])
  })

  it('leaves servers the new files do not have as they were (HAProxy ignores them)', () => {
    const state = ['1', HEADER, line('app_gone', 'blue', '172.19.0.9', 0, 1, 1, 1), ''].join('\n')
    expect(addressesOnly(state, configured)).toBe(state)
  })

  it('hands on nothing from an answer that is not a version 1 state file with the fields it needs', () => {
    expect(addressesOnly('Unknown command\n', configured)).toBeUndefined()
    expect(addressesOnly('1\n# be_id be_name srv_id srv_name srv_addr\n', configured)).toBeUndefined()
  })
})

describe('staleServers', () => {
  const at = (ip: string) => ({ wanted: ip, all: [ip] })
  const be = 'app_shop'
  const route = { app: 'shop', color: 'green' as const, image: 'shop:v2', releaseId: 'r2', appPort: 3000, replicas: 2 }
  const state = [
    '1',
    HEADER,
    line(be, 'blue', '172.20.0.4', 2, 0, 1, 1),
    line(be, 'green', '172.20.0.9', 2, 0, 1, 1),
    line(be, 'green-2', '172.20.0.7', 2, 0, 1, 1),
    line('app_other', 'green', '172.20.0.99', 2, 0, 1, 1),
    ''
  ].join('\n')

  it("names the route's servers the proxy holds at another address than their container's", () => {
    // green's container was replaced (now .5); the proxy still sends its requests to the old one (.9).
    expect(staleServers(state, be, route, [at('172.20.0.5'), at('172.20.0.7')])).toEqual([{ server: 'green', had: '172.20.0.9', wanted: '172.20.0.5' }])
  })

  it("takes any of a container's addresses (on another network the proxy shares with it) as its own", () => {
    expect(staleServers(state, be, route, [{ wanted: '172.20.0.5', all: ['172.20.0.5', '172.20.0.9'] }, at('172.20.0.7')])).toEqual([])
  })

  it('finds nothing when every server is at its container, and judges no server whose container was not found', () => {
    expect(staleServers(state, be, route, [at('172.20.0.9'), at('172.20.0.7')])).toEqual([])
    expect(staleServers(state, be, route, [{ wanted: undefined, all: [] }, at('172.20.0.7')])).toEqual([])
  })

  it('reads only its own backend, and nothing from an answer that is not a state file', () => {
    expect(staleServers(state, 'app_none', route, [at('172.20.0.5')])).toEqual([])
    expect(staleServers('Unknown command.', be, route, [at('172.20.0.5')])).toEqual([])
  })
})
