import { engineConfigOf } from '../../src/engine/context.js'
import { testConfig } from '../support/engine-bed.js'

describe("the engine's slice of the configuration", () => {
  it('carries no SSH key, GitHub token, registry password or host list', () => {
    const config = testConfig({
      ssh: { ...testConfig().ssh, privateKey: 'PRIVATE KEY' },
      github: { deployments: true, token: 'ghs_secret', environment: 'production' },
      registry: { username: 'u', password: 'registry-secret', serveraddress: 'registry.test' }
    })
    const slice = engineConfigOf(config)
    for (const key of ['ssh', 'github', 'registry', 'fleet']) expect(slice).not.toHaveProperty(key)
    expect(JSON.stringify(slice)).not.toMatch(/PRIVATE KEY|ghs_secret|registry-secret/)
    expect(slice.app).toBe(config.app)
  })
})
