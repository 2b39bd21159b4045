import { inputParser } from '../support/inputs.js'
import { proxyCapabilityProblem } from '../../src/proxy/capabilities.js'
import { sshKeyPair } from '../support/keys.js'

const key = sshKeyPair().private
const base: Record<string, string> = {
  app: 'web',
  host: 'deploy.example.com',
  'ssh-private-key': key,
  'insecure-skip-host-key-check': 'true',
  image: 'ghcr.io/acme/web:1'
}

const { parse, errorOf } = inputParser(base)

describe('strategy inputs', () => {
  it('replicas: 1 by default, 1 to 9', () => {
    expect(parse().strategy).toEqual({ replicas: 1 })
    expect(parse({ replicas: '3' }).strategy.replicas).toBe(3)
    expect(errorOf({ replicas: '0' })).toBe("Input 'replicas' must be from 1 to 9, not 0")
    expect(errorOf({ replicas: 'two' })).toMatch(/^Input 'replicas' must be a whole number from 1 to 9/)
  })

  it('replicas whose container names would not fit a DNS label are refused', () => {
    const app = 'a'.repeat(47)
    expect(parse({ app }).strategy.replicas).toBe(1)
    expect(errorOf({ app, replicas: '2' })).toMatch(/^Input 'replicas' is 2, which makes container names up to a+-green-2-replaced \(64 characters\)/)
  })

  it('with proxy-type nginx, a strategy input other than its default names what the nginx router lacks', () => {
    expect(parse({ 'proxy-type': 'nginx', replicas: '1' }).strategy.replicas).toBe(1)
    expect(errorOf({ 'proxy-type': 'nginx', replicas: '2' })).toMatch(
      /^Input 'replicas' is 2, which needs load balancing over replicas, which the nginx router does not have: remove 'replicas', or deploy behind a router that has it: HAProxy \(proxy-type: haproxy\)/
    )
    expect(parse({ 'proxy-type': 'haproxy', replicas: '2' }).strategy.replicas).toBe(2)
    // auto is settled on the host: main.ts asks again with the type found there
    expect(parse({ replicas: '2' }).proxy.type).toBe('auto')
    expect(proxyCapabilityProblem({ mode: 'deploy', strategy: { replicas: 2 }, proxy: { type: 'nginx' } })?.input).toBe('replicas')
    expect(proxyCapabilityProblem({ mode: 'deploy', strategy: { replicas: 2 }, proxy: { type: 'haproxy' } })).toBeUndefined()
  })
})

describe('sticky input', () => {
  it('off by default, cookie sets it, nginx refuses it', () => {
    expect(parse().proxy.sticky).toBeUndefined()
    expect(parse({ sticky: 'cookie', 'proxy-type': 'haproxy' }).proxy.sticky).toBe(true)
    expect(errorOf({ sticky: 'ip' })).toBe('Input \'sticky\' must be one of off, cookie, not "ip"')
    expect(errorOf({ sticky: 'cookie', 'proxy-type': 'nginx' })).toMatch(
      /^Input 'sticky' is cookie, which needs sticky sessions, which the nginx router does not have/
    )
  })
})
