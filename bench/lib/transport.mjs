// The same sequence of Docker API calls over (a) one SSH connection carrying HTTP connections as
// direct-streamlocal channels to /var/run/docker.sock (what cutover does, see
// src/transport/docker.ts) and (b) dockerode's built-in `protocol: 'ssh'` (docker-modem opens a
// new SSH connection per request and runs `docker system dial-stdio` on the host).
import http from 'node:http'
import util from 'node:util'
import { readFileSync } from 'node:fs'
import Docker from 'dockerode'
import ssh2 from 'ssh2'
import { now } from './action.mjs'

const { Client } = ssh2

// Counts SSH connections made in this process, on the client side: docker-modem requires the same
// ssh2 module, so its per-request connections go through this too.
export const clientConnections = { count: 0 }
const connect = Client.prototype.connect
Client.prototype.connect = function (...args) {
  clientConnections.count++
  return connect.apply(this, args)
}

/**
 * One SSH connection; dockerode over channels of it (a bench-side copy of DockerSocketAgent).
 * With `session`, first runs one command in a session channel, as the action does for its lock:
 * OpenSSH's sshd turns TCP_NODELAY on for the connection only once a session is opened, and
 * until then Nagle + delayed ACKs add ~40 ms to answers that overlap.
 */
export async function tunnelDocker({ host, port, user, keyFile, hostKeyBase64, session = false, shortInspect = false }) {
  const client = new Client()
  await new Promise((resolve, reject) => {
    client.once('ready', resolve)
    client.once('error', reject)
    client.connect({
      host,
      port,
      username: user,
      privateKey: readFileSync(keyFile),
      readyTimeout: 20000,
      hostVerifier: key => key.toString('base64') === hostKeyBase64
    })
  })
  client.setNoDelay(true)
  client.on('error', () => undefined)
  if (session) {
    await new Promise((resolve, reject) =>
      client.exec('true', (err, stream) => {
        if (err) return reject(err)
        stream.on('close', resolve)
        stream.resume()
        stream.stderr.resume()
      })
    )
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
  // docker-modem formats each request's options, agent included, with util.inspect(showHidden,
  // depth: null) for a debug line even when debug is off: with SSH channels in the agent that
  // walks the whole ssh2 client. What-if: the agent describes itself in one word.
  if (shortInspect) agent[util.inspect.custom] = () => 'DockerSocketAgent'
  agent.channels = 0
  agent.createConnection = (_opts, cb) => {
    agent.channels++
    client.openssh_forwardOutStreamLocal('/var/run/docker.sock', (err, stream) => {
      if (err) return cb(err)
      for (const name of ['setKeepAlive', 'setNoDelay', 'setTimeout', 'ref', 'unref']) if (typeof stream[name] !== 'function') stream[name] = () => stream
      cb(null, stream)
    })
  }
  const docker = new Docker({ protocol: 'http', host: 'docker', port: 80, agent })
  return {
    docker,
    channels: () => agent.channels,
    close() {
      agent.destroy()
      client.end()
    }
  }
}

export function sshModeDocker({ host, port, user, keyFile }) {
  const docker = new Docker({ protocol: 'ssh', host, port, username: user, sshOptions: { privateKey: readFileSync(keyFile), readyTimeout: 20000 } })
  return { docker, channels: () => undefined, close() {} }
}

/** 30 read-only calls of the kind a deploy makes: version, ping, lists and inspects. */
export function callSequence(names) {
  const base = [
    d => d.version(),
    d => d.ping(),
    d => d.listContainers({ all: true, filters: { label: [`cutover.app=${names.app}`] } }),
    d => d.listImages({ filters: { reference: [names.imageRepo] } }),
    d => d.listNetworks({ filters: { name: [names.network] } }),
    d => d.getContainer(`${names.app}-blue`).inspect(),
    d => d.getContainer(`${names.app}-green`).inspect(),
    d => d.getContainer(names.proxy).inspect(),
    d => d.getContainer(`${names.proxy}-switch`).inspect(),
    d => d.getNetwork(names.network).inspect()
  ]
  return [...base, ...base, ...base]
}

/** Runs the calls `concurrency` at a time; returns wall time (including connecting) and errors. */
export async function measureCalls(make, calls, concurrency = 1) {
  const t0 = now()
  let conn
  const errors = []
  let answered = 0
  try {
    conn = await make()
    let next = 0
    const worker = async () => {
      while (next < calls.length) {
        const call = calls[next++]
        try {
          await call(conn.docker)
          answered++
        } catch (e) {
          // A 404 is still an answer from the Docker API; anything else is a transport failure.
          if (e?.statusCode) answered++
          else errors.push(String(e?.message ?? e).slice(0, 160))
        }
      }
    }
    await Promise.all(Array.from({ length: concurrency }, worker))
  } catch (e) {
    errors.push(`connect: ${String(e?.message ?? e).slice(0, 160)}`)
  }
  const ms = now() - t0
  const channels = conn?.channels()
  conn?.close()
  return { ms: Math.round(ms), calls: calls.length, answered, errors, channels }
}
