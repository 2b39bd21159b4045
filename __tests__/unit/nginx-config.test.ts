import { parseStateComment, stateComment, type RouteState } from '../../src/engine/state.js'
import {
  appConfigFile,
  COLOR_HEADER,
  colorOfResponse,
  COMMON_CONFIG,
  PROXY_CONTAINER_PORT,
  renderAppConfig
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

describe('renderAppConfig', () => {
  it('points an upstream named after the color at that color’s container', () => {
    const b = renderAppConfig({ state: blue, appPort: 3000, domains: [] })
    const upstream = block(b, 'upstream cutover_my_web_blue')
    expect(upstream).toContain('server my-web-blue:3000 max_fails=0;')
    expect(upstream).toContain('keepalive')
    expect(block(b, 'location /')).toContain('proxy_pass http://cutover_my_web_blue;')
    expect(b).not.toContain('green')

    const g = renderAppConfig({ state: green, appPort: 8080, domains: [] })
    expect(block(g, 'upstream cutover_my_web_green')).toContain('server my-web-green:8080 max_fails=0;')
    expect(block(g, 'location /')).toContain('proxy_pass http://cutover_my_web_green;')
    expect(g).not.toContain('upstream cutover_my_web_blue')
    expect(g).not.toContain('my-web-blue:')
  })

  it('is the default server when no domains are given', () => {
    const server = block(renderAppConfig({ state: blue, appPort: 3000, domains: [] }), 'server')
    expect(server).toContain(`listen ${PROXY_CONTAINER_PORT} default_server;`)
    expect(server).toContain('server_name _;')
  })

  it('answers only its domains when domains are given', () => {
    const server = block(renderAppConfig({ state: blue, appPort: 3000, domains: ['example.com', 'www.example.com'] }), 'server')
    expect(server).toContain(`listen ${PROXY_CONTAINER_PORT};`)
    expect(server).not.toContain('default_server')
    expect(server).toContain('server_name example.com www.example.com;')
  })

  it('carries the route state in a comment that parses back to the same state', () => {
    for (const state of [blue, green]) {
      const text = renderAppConfig({ state, appPort: 3000, domains: ['example.com'] })
      expect(text).toContain(stateComment(state))
      expect(parseStateComment(text)).toEqual(state)
    }
  })

  it('forwards WebSocket upgrades over HTTP/1.1 with long timeouts', () => {
    const location = block(renderAppConfig({ state: blue, appPort: 3000, domains: [] }), 'location /')
    expect(location).toContain('proxy_http_version 1.1;')
    expect(location).toContain('proxy_set_header Upgrade $http_upgrade;')
    expect(location).toContain('proxy_set_header Connection $cutover_connection;')
    expect(location).toMatch(/proxy_read_timeout (\d+h|\d{4,}s?);/)
    // the variable the location uses is defined in the shared config: upgrade when asked, '' (keep-alive) otherwise
    const map = block(COMMON_CONFIG, 'map $http_upgrade $cutover_connection')
    expect(map).toContain('default upgrade;')
    expect(map).toContain("'' '';")
  })

  it('tags every answer with the color that served it', () => {
    const location = block(renderAppConfig({ state: green, appPort: 3000, domains: [] }), 'location /')
    expect(location.toLowerCase()).toContain(`add_header ${COLOR_HEADER} green always;`)
    expect(colorOfResponse({ [COLOR_HEADER]: 'green' })).toBe('green')
    expect(colorOfResponse({ [COLOR_HEADER]: 'purple' })).toBeUndefined()
    expect(colorOfResponse({})).toBeUndefined()
  })

  it('has balanced braces and one file per app', () => {
    const text = renderAppConfig({ state: green, appPort: 3000, domains: [] })
    expect(text.split('{').length).toBe(text.split('}').length)
    expect(appConfigFile('my-web')).toBe('cutover-app-my-web.conf')
  })
})

describe('parseStateComment', () => {
  it('finds no state in a file without the comment, or with a damaged one', () => {
    expect(parseStateComment('server { listen 80; }\n')).toBeUndefined()
    expect(parseStateComment('# cutover-state: {not json\n')).toBeUndefined()
    expect(parseStateComment('# cutover-state: {"color":"purple","image":"x"}\n')).toBeUndefined()
  })
})
