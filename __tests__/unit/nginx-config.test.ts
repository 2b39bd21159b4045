import type { Route } from '../../src/engine/ports.js'
import {
  appConfigFile,
  EDGE_PORT,
  edgeCommonConfig,
  renderEdgeConfig,
  renderSwitchConfig,
  RELEASE_HEADER,
  legacyLedger,
  migratedSwitchConfig,
  parseRouteComment,
  routeComment,
  SWITCH_COMMON_CONFIG,
  SWITCH_PORT,
  switchHost,
  VERIFY_HEADER
} from '../../src/proxy/nginx-config.js'

const blue: Route = { app: 'my-web', color: 'blue', releaseId: 'r1-blue', appPort: 3000 }
const green: Route = { app: 'my-web', color: 'green', releaseId: 'r2-green', appPort: 3000 }

/** The text of the block that starts with `head {` up to its matching brace. */
function block(text: string, head: string): string {
  const start = text.indexOf(`${head} {`)
  expect(start).toBeGreaterThanOrEqual(0)
  let depth = 0
  for (let i = text.indexOf('{', start); i < text.length; i++) {
    if (text[i] === '{') depth++
    if (text[i] === '}' && --depth === 0) return text.slice(start, i + 1)
  }
  throw new Error(`unterminated block ${head}`)
}

describe('renderSwitchConfig (the tier reloaded at each switch)', () => {
  it('names the color’s container in a variable, resolved per request: no name is resolved when nginx loads (issue #22)', () => {
    const b = renderSwitchConfig({ ...blue, appPort: 3000 }, 'tok123')
    expect(b).not.toMatch(/^upstream /m)
    const location = block(b, 'location /')
    expect(location).toContain('set $cutover_target_my_web my-web-blue:3000;')
    expect(location).toContain('proxy_pass http://$cutover_target_my_web;')
    expect(b).not.toContain('green')

    const g = renderSwitchConfig({ ...green, appPort: 8080 }, 'tok123')
    expect(block(g, 'location /')).toContain('set $cutover_target_my_web my-web-green:8080;')
    expect(g).not.toContain('my-web-blue')
    // The resolver every app's variable goes through: Docker's DNS, with a short cache.
    expect(SWITCH_COMMON_CONFIG).toContain('resolver 127.0.0.11 valid=5s ipv6=off;')
  })

  it('rewrites a switch file of the upstream kind (written by earlier versions) with the same route; leaves anything else', () => {
    const legacy = `# Managed by cutover: do not edit, deploys rewrite it.
${routeComment(green, 'tok9')}
map $http_x_cutover_verify $cutover_release_my_web {
  default '';
  'tok9' 'r2-green';
}
upstream cutover_my_web_green {
  # max_fails=0: a single upstream must never be marked down by a transient error
  server my-web-green:8081 max_fails=0;
  keepalive 32;
}
`
    expect(migratedSwitchConfig('my-web', legacy)).toBe(renderSwitchConfig({ ...green, appPort: 8081 }, 'tok9'))
    expect(migratedSwitchConfig('my-web', renderSwitchConfig(green, 'tok9'))).toBeUndefined()
    expect(migratedSwitchConfig('my-web', '# Removed by cutover.\n')).toBeUndefined()
  })

  it('answers the app’s internal virtual host and gives the app back the client’s Host', () => {
    const text = renderSwitchConfig({ ...blue, appPort: 3000 }, 'tok123')
    const server = block(text, 'server')
    expect(server).toContain(`listen ${SWITCH_PORT};`)
    expect(server).toContain(`server_name ${switchHost('my-web')};`)
    const location = block(text, 'location /')
    expect(location).toContain('proxy_set_header Host $http_x_cutover_host;')
    expect(location).toContain('proxy_set_header X-Cutover-Host "";')
  })

  it('records which release it routes to in a comment that parses back', () => {
    for (const route of [blue, green]) {
      const text = renderSwitchConfig(route, 'tok123')
      expect(text).toContain(routeComment(route, 'tok123'))
      expect(parseRouteComment('my-web', text)).toEqual({ color: route.color, releaseId: route.releaseId, token: 'tok123' })
    }
  })

  it('forwards WebSocket upgrades and streams (SSE) with long timeouts', () => {
    const location = block(renderSwitchConfig({ ...blue, appPort: 3000 }, 'tok123'), 'location /')
    expect(location).toContain('proxy_http_version 1.1;')
    expect(location).toContain('proxy_set_header Upgrade $http_upgrade;')
    expect(location).toContain('proxy_set_header Connection $cutover_connection;')
    expect(location).toContain('proxy_pass_header X-Accel-Buffering;')
    expect(location).toMatch(/proxy_read_timeout (\d+h|\d{4,}s?);/)
    // upgrade when asked, '' (upstream keep-alive) otherwise
    const map = block(SWITCH_COMMON_CONFIG, 'map $http_upgrade $cutover_connection')
    expect(map).toContain('default upgrade;')
    expect(map).toContain("'' '';")
  })

  it('adds no header of its own to public answers', () => {
    const location = block(renderSwitchConfig({ ...green, appPort: 3000 }, 'tok123'), 'location /')
    expect(location.toLowerCase()).not.toContain('x-cutover-color')
  })

  it('has balanced braces and one file per app', () => {
    const text = renderSwitchConfig({ ...green, appPort: 3000 }, 'tok123')
    expect(text.split('{').length).toBe(text.split('}').length)
    expect(appConfigFile('my-web')).toBe('cutover-app-my-web.conf')
  })
})

describe('telling releases and apps apart', () => {
  it('names the answering release only to a request that asks (the verify header)', () => {
    const text = renderSwitchConfig({ ...green, appPort: 3000 }, 'tok123')
    const map = block(text, 'map $http_x_cutover_verify $cutover_release_my_web')
    expect(map).toContain("default '';")
    // only the token written on the host, not any value of the header, names the release
    expect(map).toContain(`'tok123' '${green.releaseId}';`)
    expect(map).not.toContain("'~.'")
    expect(block(text, 'location /')).toContain(
      `add_header ${RELEASE_HEADER.replace(/^x/, 'X').replace('-cutover-release', '-Cutover-Release')} $cutover_release_my_web always;`
    )
    expect(VERIFY_HEADER).toBe('x-cutover-verify')
  })

  it('never sends a request to another app: the switch answers 503, the edge 404, for unknown hosts', () => {
    const switchDefault = block(SWITCH_COMMON_CONFIG, 'server')
    expect(switchDefault).toContain(`listen ${SWITCH_PORT} default_server;`)
    expect(switchDefault).toContain('return 503;')
    const edgeDefault = block(edgeCommonConfig('p-switch'), 'server')
    expect(edgeDefault).toContain(`listen ${EDGE_PORT};`)
    expect(edgeDefault).toContain('return 404;')
  })
})

describe('renderEdgeConfig (the client-facing tier, never reloaded by a switch)', () => {
  it('is the default server when no domains are given', () => {
    const server = block(renderEdgeConfig('my-web', []), 'server')
    expect(server).toContain(`listen ${EDGE_PORT} default_server;`)
    expect(server).toContain('server_name _;')
  })

  it('answers only its domains when domains are given', () => {
    const server = block(renderEdgeConfig('my-web', ['example.com', 'www.example.com']), 'server')
    expect(server).toContain(`listen ${EDGE_PORT};`)
    expect(server).not.toContain('default_server')
    expect(server).toContain('server_name example.com www.example.com;')
  })

  it('sends the app’s requests to its virtual host on the switch, keeping the client’s Host aside', () => {
    const location = block(renderEdgeConfig('my-web', []), 'location /')
    expect(location).toContain('proxy_pass http://cutover_switch;')
    expect(location).toContain(`proxy_set_header Host ${switchHost('my-web')};`)
    expect(location).toContain('proxy_set_header X-Cutover-Host $http_host;')
    expect(location).toContain('proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;')
  })

  it('holds no idle connection to the switch: one connection per request, closed after it', () => {
    const common = edgeCommonConfig('cutover-proxy-switch')
    const upstream = block(common, 'upstream cutover_switch')
    expect(upstream).toContain(`server cutover-proxy-switch:${SWITCH_PORT} max_fails=0;`)
    expect(upstream).not.toContain('keepalive')
    const map = block(common, 'map $http_upgrade $cutover_edge_connection')
    expect(map).toContain('default upgrade;')
    expect(map).toContain("'' close;")
    expect(block(renderEdgeConfig('my-web', []), 'location /')).toContain('proxy_set_header Connection $cutover_edge_connection;')
  })

  it('does not depend on the live color, so a switch leaves it unchanged', () => {
    const text = renderEdgeConfig('my-web', ['example.com'])
    expect(text).not.toMatch(/blue|green/)
    expect(text.split('{').length).toBe(text.split('}').length)
  })
})

describe('route comments and the state of versions before the ledger', () => {
  it('finds no route in a file without the comment, or with a damaged one', () => {
    expect(parseRouteComment('my-web', 'server { listen 80; }\n')).toBeUndefined()
    expect(parseRouteComment('my-web', '# cutover-route: {not json\n')).toBeUndefined()
    expect(parseRouteComment('my-web', '# cutover-route: {"color":"purple","releaseId":"x"}\n')).toBeUndefined()
  })

  it('reads the state comment older versions wrote: the route, and a ledger to import with live and previous', () => {
    const legacy =
      '# cutover-state: {"app":"my-web","color":"green","image":"web:2","deployedAt":"2026-11-02T10:00:00.000Z","previous":{"color":"blue","image":"web:1"}}\n'
    // the id is the release header value older versions sent, so verification of the live release still matches
    expect(parseRouteComment('my-web', legacy)).toEqual({ color: 'green', releaseId: 'my-web green 2026-11-02T10:00:00.000Z' })
    const record = legacyLedger('my-web', legacy)!
    expect(record.releases.map(r => [r.color, r.image, r.liveSince])).toEqual([
      ['green', 'web:2', '2026-11-02T10:00:00.000Z'],
      ['blue', 'web:1', '']
    ])
    expect(record.releases[0].id).toBe('my-web green 2026-11-02T10:00:00.000Z')
    expect(legacyLedger('other-app', legacy)).toBeUndefined()
    expect(legacyLedger('my-web', '# cutover-state: {broken\n')).toBeUndefined()
  })
})
