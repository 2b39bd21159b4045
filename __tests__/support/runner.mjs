// Plain ESM, shared by the TypeScript tests and the benchmark (bench/): how a GitHub runner
// hands inputs to an action and how it reads the outputs back.
import { readFileSync } from 'node:fs'

/** Parses GITHUB_OUTPUT's `name<<delimiter` blocks (and plain name=value lines). */
export function parseOutputFile(text) {
  const out = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([^=<]+)<<(.+)$/.exec(lines[i])
    if (heredoc) {
      const value = []
      while (++i < lines.length && lines[i] !== heredoc[2]) value.push(lines[i])
      out[heredoc[1]] = value.join('\n')
    } else if (lines[i].includes('=')) {
      const eq = lines[i].indexOf('=')
      out[lines[i].slice(0, eq)] = lines[i].slice(eq + 1)
    }
  }
  return out
}

/** The inputs every run against the test bed needs: host, key, pin, registry, its own proxy. */
export function testbedInputs(bed, app, proxyPort) {
  return {
    app,
    host: bed.CUTOVER_TEST_SSH_HOST,
    port: bed.CUTOVER_TEST_SSH_PORT,
    user: bed.CUTOVER_TEST_SSH_USER,
    'ssh-private-key': readFileSync(bed.CUTOVER_TEST_KEY, 'utf8'),
    'known-hosts': bed.CUTOVER_TEST_KNOWN_HOSTS,
    'registry-username': bed.CUTOVER_TEST_REGISTRY_USER,
    'registry-password': bed.CUTOVER_TEST_REGISTRY_PASSWORD,
    // proxy-type auto: a new proxy is HAProxy (tests of the nginx router set proxy-type and the nginx image)
    'proxy-image': bed.CUTOVER_TEST_HAPROXY_IMAGE ?? `${bed.CUTOVER_TEST_REGISTRY}/cutover-test/haproxy:2.6`,
    'proxy-name': `${app}-proxy`,
    'proxy-port': String(proxyPort),
    deployments: 'false'
  }
}
