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

describe('canary-steps inputs', () => {
  it('rising percentages, each step judged by the watch bounds; defaults 60 s, 5 %, hold', () => {
    expect(parse({ 'canary-steps': '5 25 50' }).strategy.canarySteps).toEqual({ weights: [5, 25, 50], stepMs: 60_000, maxErrorRate: 5, lowTraffic: 'hold' })
    expect(
      parse({
        'canary-steps': '10%, 50%',
        'canary-step-time': '2m',
        'watch-max-error-rate': '1%',
        'watch-max-latency': '300ms',
        'watch-max-latency-increase': '50%',
        'canary-low-traffic': 'Fail'
      }).strategy.canarySteps
    ).toEqual({ weights: [10, 50], stepMs: 120_000, maxErrorRate: 1, maxLatencyMs: 300, maxLatencyIncrease: 50, lowTraffic: 'fail' })
    expect(parse().strategy.canarySteps).toBeUndefined()
  })

  it.each([
    [{ 'canary-steps': '5 0 50' }, /^Input 'canary-steps' must be percentages from 1 to 99 such as "5 25 50", not "0" in "5 0 50"/],
    [{ 'canary-steps': '5 five' }, /not "five"/],
    [{ 'canary-steps': '50 25' }, /^Input 'canary-steps' must rise from step to step/],
    [{ 'canary-steps': '5 25', 'canary-weight': '10' }, /^Input 'canary-steps' cannot be combined with 'canary-weight'/],
    [{ 'canary-steps': '5 25', watch: '1m' }, /^Input 'canary-steps' cannot be combined with 'watch'/],
    [{ 'canary-steps': '5 25', promote: 'manual' }, /^Input 'promote' manual cannot be combined with 'canary-steps'/],
    [{ 'canary-steps': '5 25', mode: 'rollback' }, /^Input 'canary-steps' only applies to mode deploy, not rollback/],
    [{ 'canary-steps': '5 25', 'canary-step-time': '2s' }, /^Input 'canary-step-time' must be at least 5s/],
    [{ 'canary-steps': '5 25 50', 'canary-step-time': '30m' }, /^Input 'canary-step-time' is 30m for 3 steps, more than 1h in all/],
    [{ 'canary-steps': '5', 'canary-step-time': 'soon' }, /^Input 'canary-step-time' must be a duration such as 60s or 5m, not "soon"/],
    [{ 'canary-steps': '5', 'watch-max-latency': 'fast' }, /^Input 'watch-max-latency' must be a response time such as 300ms or 1.5s, not "fast"/],
    [{ 'canary-steps': '5', 'watch-max-latency-increase': 'x' }, /^Input 'watch-max-latency-increase' must be a percentage/],
    [{ 'canary-steps': '5', 'canary-low-traffic': 'wait' }, /^Input 'canary-low-traffic' must be promote, hold or fail, not "wait"/],
    [{ 'canary-steps': '5 25', 'proxy-type': 'nginx' }, /^Input 'canary-steps' is 5 25, which needs weighted routing, which the nginx router does not have/]
  ])('refuses %j', (inputs, message) => {
    expect(errorOf(inputs)).toMatch(message)
  })
})
