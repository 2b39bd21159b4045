import { parseStateComment, stateComment, type RouteState } from '../../src/engine/state.js'
import {
  appConfigFile,
  COLOR_HEADER,
  EDGE_PORT,
  edgeCommonConfig,
  renderEdgeConfig,
  renderSwitchConfig,
  RELEASE_HEADER,
  releaseId,
  SWITCH_COMMON_CONFIG,
  SWITCH_PORT,
  switchHost,
  VERIFY_HEADER
} from '../../src/proxy/nginx-config.js'

const blue: RouteState = { app: 'my-web', color: 'blue', image: 'ghcr.io/acme/web:1.2.3', deployedAt: '2026-11-01T10:00:00.000Z' }
const green: RouteState = {
  app: 'my-web',
  color: 'green',
  image: 'ghcr.io/acme/web:1.2.4',
  deployedAt: '2026-11-02T10:00:00.000Z',
  previous: { color: 'blue', image: 'ghcr.io/acme/web:1.2.3' }
}

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
  it('points an upstream named after the color at that color’s container', () => {
    const b = renderSwitchConfig({ state: blue, appPort: 3000 })
    const upstream = block(b, 'upstream cutover_my_web_blue')
    expect(upstream).toContain('server my-web-blue:3000 max_fails=0;')
    expect(upstream).toContain('keepalive 32;')
    // shorter than Node's 5 s server keep-alive, so nginx never reuses a socket the app is closing
    expect(upstream).toContain('keepalive_timeout 4s;')
    expect(block(b, 'location /')).toContain('proxy_pass http://cutover_my_web_blue;')
    expect(b).not.toContain('green')

    const g = renderSwitchConfig({ state: green, appPort: 8080 })
    expect(block(g, 'upstream cutover_my_web_green')).toContain('server my-web-green:8080 max_fails=0;')
    expect(block(g, 'location /')).toContain('proxy_pass http://cutover_my_web_green;')
    expect(g).not.toContain('upstream cutover_my_web_blue')
    expect(g).not.toContain('my-web-blue:')
  })

  it('answers the app’s internal virtual host and gives the app back the client’s Host', () => {
    const text = renderSwitchConfig({ state: blue, appPort: 3000 })
    const server = block(text, 'server')
    expect(server).toContain(`listen ${SWITCH_PORT};`)
    expect(server).toContain(`server_name ${switchHost('my-web')};`)
    const location = block(text, 'location /')
    expect(location).toContain('proxy_set_header Host $http_x_cutover_host;')
    expect(location).toContain('proxy_set_header X-Cutover-Host "";')
  })

  it('carries the route state in a comment that parses back to the same state', () => {
    for (const state of [blue, green]) {
      const text = renderSwitchConfig({ state, appPort: 3000 })
      expect(text).toContain(stateComment(state))
      expect(parseStateComment(text)).toEqual(state)
    }
  })

  it('forwards WebSocket upgrades and streams (SSE) with long timeouts', () => {
    const location = block(renderSwitchConfig({ state: blue, appPort: 3000 }), 'location /')
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

  it('tags every answer with the color that served it', () => {
    const location = block(renderSwitchConfig({ state: green, appPort: 3000 }), 'location /')
    expect(location.toLowerCase()).toContain(`add_header ${COLOR_HEADER} green always;`)
  })

  it('has balanced braces and one file per app', () => {
    const text = renderSwitchConfig({ state: green, appPort: 3000 })
    expect(text.split('{').length).toBe(text.split('}').length)
    expect(appConfigFile('my-web')).toBe('cutover-app-my-web.conf')
  })
})

describe('telling releases and apps apart', () => {
  it('names the answering release only to a request that asks (the verify header)', () => {
    const text = renderSwitchConfig({ state: green, appPort: 3000 })
    const map = block(text, 'map $http_x_cutover_verify $cutover_release_my_web')
    expect(map).toContain("default '';")
    expect(map).toContain(`'~.' '${releaseId(green)}';`)
    expect(block(text, 'location /')).toContain(`add_header ${RELEASE_HEADER.replace(/^x/, 'X').replace('-cutover-release', '-Cutover-Release')} $cutover_release_my_web always;`)
    expect(VERIFY_HEADER).toBe('x-cutover-verify')
    // Two releases of the same color differ: a re-deploy after a failure is not mistaken for the old one.
    expect(releaseId({ ...green, deployedAt: '2026-11-03T00:00:00.000Z' })).not.toBe(releaseId(green))
    expect(releaseId({ ...green, app: 'other' })).not.toBe(releaseId(green))
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

describe('parseStateComment', () => {
  it('finds no state in a file without the comment, or with a damaged one', () => {
    expect(parseStateComment('server { listen 80; }\n')).toBeUndefined()
    expect(parseStateComment('# cutover-state: {not json\n')).toBeUndefined()
    expect(parseStateComment('# cutover-state: {"color":"purple","image":"x"}\n')).toBeUndefined()
  })
})
