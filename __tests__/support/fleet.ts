import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import Docker from 'dockerode'
import type { HostOutcome } from '../../src/core/outcome.js'
import { bedInputs, get, type ActionRun } from './action.js'
import { cleanupApp, testbed } from './testbed.js'

/** The fleet hosts of scripts/testbed/hosts.sh, as .testbed/env.json describes them. */
export interface FleetBed {
  CUTOVER_TEST_HOSTS: string
  CUTOVER_TEST_HOSTS_KNOWN_HOSTS: string
  CUTOVER_TEST_HOSTS_DIR: string
  CUTOVER_TEST_HOSTS_IMAGE_PREFIX: string
  CUTOVER_TEST_HOSTS_HAPROXY_IMAGE: string
}

export function fleetBed(): FleetBed {
  const bed = testbed() as unknown as Partial<FleetBed>
  if (!bed.CUTOVER_TEST_HOSTS) throw new Error('The fleet hosts are not up (no CUTOVER_TEST_HOSTS in .testbed/env.json): run "bash scripts/testbed/up.sh"')
  return bed as FleetBed
}

export function fleetAddresses(): string[] {
  return fleetBed().CUTOVER_TEST_HOSTS.split('\n')
}

/** An app image as the fleet hosts pull it (through the relay on the bridge). */
export function fleetImage(tag: string): string {
  return `${fleetBed().CUTOVER_TEST_HOSTS_IMAGE_PREFIX}:${tag}`
}

/** Host n's (1-based) Docker, reached from this machine through its socket. */
export function fleetDocker(n: number): Docker {
  return new Docker({ socketPath: `/run/cutover-test-h${n}/docker.sock` })
}

/** Host n's own files (its /root) as this machine sees them. */
export function fleetHome(n: number): string {
  return `/var/lib/cutover-test-h${n}/home`
}

export function fleetInputs(app: string, proxyPort: number, overrides: Record<string, string> = {}): Record<string, string> {
  const bed = fleetBed()
  return bedInputs(app, proxyPort, {
    host: bed.CUTOVER_TEST_HOSTS,
    port: '22',
    'known-hosts': bed.CUTOVER_TEST_HOSTS_KNOWN_HOSTS,
    'proxy-type': 'haproxy',
    'proxy-image': bed.CUTOVER_TEST_HOSTS_HAPROXY_IMAGE,
    'drain-timeout': '1s',
    ...overrides
  })
}

/** The sshd of host n: its listener's pid. */
export function fleetSshdPid(n: number): number {
  return Number(readFileSync(join(fleetBed().CUTOVER_TEST_HOSTS_DIR, `h${n}`, 'sshd.pid'), 'utf8').trim())
}

/** Removes what an app and its proxy left on every fleet host (cleanupApp on each), and the files hostFile made there. */
export async function cleanupFleetApp(app: string, proxyName: string): Promise<void> {
  await Promise.all(
    fleetAddresses().map(async (_, i) => {
      const home = fleetHome(i + 1)
      await cleanupApp(app, proxyName, home, { docker: fleetDocker(i + 1), runDir: `/var/lib/cutover-test-h${i + 1}/run-cutover` })
      rmSync(join(home, app), { recursive: true, force: true })
    })
  )
}

/** A file only host n has, under its /root (the hosts share every other path of this machine). */
export function hostFile(n: number, app: string): string {
  const dir = join(fleetHome(n), app)
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true })
  return dir
}

/** The `hosts` output of a run over several hosts. */
export function hostsOf(run: ActionRun): HostOutcome[] {
  return JSON.parse(run.outputs.hosts) as HostOutcome[]
}

/** What each fleet host's proxy on `port` answers now (the app's version). */
export async function servedOn(port: number): Promise<string[]> {
  return Promise.all(fleetAddresses().map(async a => (await get(`http://${a}:${port}/`)).body.trim()))
}
