import { afterAll, describe, expect, it } from '@jest/globals'
import { fleetDocker, fleetImage } from '../support/fleet.js'
import { removeSwarmThings, serviceTasks, swarmManager, swarmNodes, swarmRegistryAuth, waitRunning } from '../support/swarm.js'
import { get } from '../support/action.js'
import { freePort, uniqueName } from '../support/testbed.js'

// The test bed's swarm (scripts/testbed/swarm.sh) is what target: swarm is tested on: three real
// nodes, an overlay network across them, tasks found through Swarm's DNS, host-mode ports.
const app = uniqueName('swbed')
const network = `${app}-net`
const service = `${app}-blue`
const probe = `${app}-probe`

afterAll(async () => {
  await fleetDocker(1)
    .getContainer(probe)
    .remove({ force: true })
    .catch(() => undefined)
  await removeSwarmThings([service], [network])
})

describe('the swarm test bed', () => {
  it('has three Ready nodes, labelled by host, with host 1 the leader', async () => {
    const nodes = (await swarmManager().listNodes()) as Array<{
      Status: { State: string; Addr: string }
      Spec: { Labels: Record<string, string> }
      ManagerStatus?: { Leader?: boolean }
    }>
    const ready = nodes.filter(n => n.Status.State === 'ready')
    expect(ready.map(n => n.Status.Addr).sort()).toEqual(swarmNodes().sort())
    expect(ready.map(n => n.Spec.Labels['cutover-test.node']).sort()).toEqual(['h1', 'h2', 'h3'])
    expect(ready.find(n => n.ManagerStatus?.Leader)?.Status.Addr).toBe(swarmNodes()[0])
  })

  it('runs a dnsrr service on every node: host-mode ports answer on each node, tasks.<service> reaches them all over the overlay', async () => {
    const docker = swarmManager()
    const port = await freePort()
    await docker.createNetwork({ Name: network, Driver: 'overlay', Attachable: true, CheckDuplicate: true, Labels: { 'cutover-test': app } })
    await docker.createService(swarmRegistryAuth(), {
      Name: service,
      Labels: { 'cutover-test': app },
      TaskTemplate: {
        ContainerSpec: { Image: fleetImage('v1'), Env: ['BOOT_DELAY_MS=200'] },
        Networks: [{ Target: network }],
        Placement: { MaxReplicas: 1 }
      },
      Mode: { Replicated: { Replicas: 3 } },
      EndpointSpec: { Mode: 'dnsrr', Ports: [{ Protocol: 'tcp', TargetPort: 3000, PublishedPort: port, PublishMode: 'host' }] }
    })
    const tasks = await waitRunning(service, 3, 90_000)
    expect(tasks.map(t => t.node).sort()).toEqual(swarmNodes().sort())
    // Every node's own port: its own task, no routing mesh.
    for (const node of swarmNodes()) {
      let answer = await get(`http://${node}:${port}/`).catch((e: Error) => ({ status: 0, body: e.message }))
      for (let i = 0; i < 20 && answer.status !== 200; i++) {
        await new Promise(r => setTimeout(r, 250))
        answer = await get(`http://${node}:${port}/`).catch((e: Error) => ({ status: 0, body: e.message }))
      }
      expect(answer).toMatchObject({ status: 200, body: 'v1\n' })
    }
    // From a container on host 1: Swarm's DNS lists every task, and each answers across the overlay.
    const script = `require('dns').promises.lookup('tasks.${service}', { all: true }).then(async addrs => {
      const ok = await Promise.all(addrs.map(a => new Promise(r => require('http').get({ host: a.address, port: 3000, path: '/', timeout: 3000 }, res => r(a.address + '=' + res.statusCode)).on('error', e => r(a.address + '=' + e.code)))))
      console.log(JSON.stringify(ok.sort())); process.exit(0) })`
    const container = await fleetDocker(1).createContainer({
      name: probe,
      Image: fleetImage('v1'),
      Entrypoint: ['/usr/bin/node', '-e', script],
      HostConfig: { NetworkMode: network }
    })
    await container.start()
    const exit = (await container.wait()) as { StatusCode: number }
    const out = (await container.logs({ stdout: true, stderr: true })).toString('utf8')
    expect(exit.StatusCode).toBe(0)
    const expected = tasks.map(t => `${t.addresses[0].split('/')[0]}=200`).sort()
    expect(out).toContain(JSON.stringify(expected))
    expect((await serviceTasks(service)).filter(t => t.state === 'running')).toHaveLength(3)
  }, 180_000)
})
