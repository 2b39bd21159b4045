import type { PassThrough } from 'node:stream'
import type { Route } from '../../src/engine/ports.js'
import type { ConfVolume } from '../../src/proxy/haproxy-files.js'
import { addressesFirst, HaproxyAdmin, runtimeErrors, splitAtServerState, unappliedAddresses } from '../../src/proxy/haproxy-runtime.js'
import { switchCommands } from '../../src/proxy/haproxy-strategy.js'
import { answeringSocket } from '../support/admin-socket.js'

// HAProxy 3.0 (the version proxy-image defaults to) applies `set server addr` after the line that
// asked for it, and words its answers differently from 2.6. The answers below are the real ones of
// Debian's 2.6.12 and 3.0.11 to the same commands.
const HEADER =
  '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port'
const state = (green: string, port = 3000) =>
  `1\n${HEADER}\n3 be_app 1 blue 172.18.0.3 2 0 1 1 1 1 0 2 0 0 0 0 - 3000 - 0 0 - - 0\n3 be_app 2 green ${green} 0 5 1 1 1 1 0 0 8 0 0 0 - ${port} - 0 0 - - 0\n\n`

describe("the answers of `set server addr`, HAProxy 2.6's and 3.0's", () => {
  it('are not errors: a changed address or port, or none', () => {
    const v30 = [
      "IP changed from '127.0.0.1' to '127.0.0.5', port changed from '3001' to '3006' by 'stats socket command'",
      "port changed from '3001' to '3002' by 'stats socket command'",
      'nothing changed'
    ]
    const v26 = [
      "no need to change the addr, port changed from '3001' to '3002' by 'stats socket command'",
      "IP changed from '127.0.0.1' to '127.0.0.3', no need to change the port by 'stats socket command'",
      "no need to change the addr, no need to change the port by 'stats socket command'"
    ]
    expect(runtimeErrors([...v30, ...v26].join('\n\n') + '\n\n')).toEqual([])
  })

  it('while anything else is', () => {
    expect(runtimeErrors('nothing changed\n\nNo such server.\n\n')).toEqual(['No such server.'])
    expect(runtimeErrors('nothing changed at all\n')).toEqual(['nothing changed at all'])
  })
})

describe('address changes first', () => {
  it("a switch: the new color's maintenance and address, then its weight and state, then the other color", () => {
    const commands = switchCommands('be_app', { color: 'green', appPort: 3000, replicas: 2 } as Route, 2, ['172.18.0.7', '172.18.0.8'], 'drain', true)
    expect(addressesFirst(commands)).toEqual({
      first: [
        'set server be_app/green state maint',
        'set server be_app/green addr 172.18.0.7 port 3000',
        'set server be_app/green-2 state maint',
        'set server be_app/green-2 addr 172.18.0.8 port 3000'
      ],
      rest: [
        'set server be_app/green weight 1',
        'set server be_app/green state ready',
        'set server be_app/green-2 weight 1',
        'set server be_app/green-2 state ready',
        'set server be_app/blue state drain',
        'set server be_app/blue-2 state drain'
      ]
    })
  })

  it('commands without an address change stay as they are, in one part', () => {
    const commands = ['set server be_app/green state ready', 'add map /m tok r', 'set server be_app/blue state drain']
    expect(addressesFirst(commands)).toEqual({ first: [], rest: commands })
  })

  it('reads what `show servers state` shows: applied, not yet, or a server it does not show', () => {
    const set = ['set server be_app/green addr 172.18.0.9 port 3000']
    expect(unappliedAddresses(set, state('172.18.0.9'))).toEqual([])
    expect(unappliedAddresses(set, state('172.18.0.4'))).toEqual(['be_app/green: 172.18.0.9:3000, still 172.18.0.4:3000'])
    expect(unappliedAddresses(set, state('172.18.0.9', 3001))).toEqual(['be_app/green: 172.18.0.9:3000, still 172.18.0.9:3001'])
    expect(unappliedAddresses(['set server be_other/x addr 1.2.3.4 port 80'], state('172.18.0.9'))).toEqual(['be_other/x: 1.2.3.4:80, still not shown'])
  })
})

describe('an answer that ends with `show servers state`', () => {
  it("splits into what the commands said and the state, whatever the commands' answers", () => {
    const look = state('172.18.0.9')
    expect(splitAtServerState(`\n${look}`)).toEqual({ said: '\n', state: look })
    expect(splitAtServerState(look)).toEqual({ said: '', state: look })
    const said = "\nIP changed from '172.18.0.4' to '172.18.0.9' by 'stats socket command'\n\n"
    expect(splitAtServerState(said + look)).toEqual({ said, state: look })
    expect(unappliedAddresses(['set server be_app/green addr 172.18.0.9 port 3000'], splitAtServerState(said + look).state)).toEqual([])
  })

  it('without the state (a backend it does not know), all of it is what was said, and no address shows', () => {
    const answer = "nothing changed\n\nCan't find backend.\n\n"
    expect(splitAtServerState(answer)).toEqual({ said: answer, state: '' })
    expect(runtimeErrors(answer)).toEqual(["Can't find backend."])
  })
})

/**
 * An admin socket that behaves like HAProxy 3.0: an address change shows in `show servers state`
 * only `lag` connections after the one that asked for it (0: at once, as 2.6 does). Records every
 * line and what the green server's address was when each line arrived.
 */
function laggingProxy(lag: number) {
  let green = '172.18.0.4'
  let connections = 0
  const pending: { at: number; addr: string }[] = []
  const lines: { line: string; green: string }[] = []
  const open = async () => {
    connections++
    for (const p of pending.filter(p => p.at <= connections)) green = p.addr
    return answeringSocket(line => {
      lines.push({ line, green })
      return line
        .split(/;\s*/)
        .map(c => {
          const addr = /^set server be_app\/green addr (\S+) port 3000$/.exec(c)
          if (addr) {
            const answer = addr[1] === green ? 'nothing changed\n\n' : `IP changed from '${green}' to '${addr[1]}' by 'stats socket command'\n\n`
            if (lag === 0) green = addr[1]
            else pending.push({ at: connections + lag, addr: addr[1] })
            return answer
          }
          return c.startsWith('show servers state') ? state(green) : '\n'
        })
        .join('')
    })
  }
  return { open, lines }
}

const admin = (open: () => Promise<PassThrough>) => new HaproxyAdmin(async () => undefined, 'cutover-proxy', '/run/cutover/admin.sock', open, {} as ConfVolume)
const SWITCH = [
  'set server be_app/green state maint',
  'set server be_app/green addr 172.18.0.9 port 3000',
  'set server be_app/green state ready',
  'set server be_app/blue state drain'
]

describe('HaproxyAdmin.run with address changes', () => {
  it('sends the state changes only once the running process shows the new address', async () => {
    const proxy = laggingProxy(3)
    await admin(proxy.open).run(SWITCH, 'the switch')
    expect(proxy.lines[0].line).toBe('set server be_app/green state maint; set server be_app/green addr 172.18.0.9 port 3000; show servers state be_app')
    const ready = proxy.lines.find(l => l.line.includes('state ready'))
    expect(ready).toEqual({ line: 'set server be_app/green state ready; set server be_app/blue state drain', green: '172.18.0.9' })
    // it asked again until the address showed: three more times here
    expect(proxy.lines.filter(l => l.line === 'show servers state be_app').length).toBe(3)
  })

  it('HAProxy 2.6, which applies an address at once: two lines, the look in the first', async () => {
    const proxy = laggingProxy(0)
    await admin(proxy.open).run(SWITCH, 'the switch')
    expect(proxy.lines).toEqual([
      { line: 'set server be_app/green state maint; set server be_app/green addr 172.18.0.9 port 3000; show servers state be_app', green: '172.18.0.4' },
      { line: 'set server be_app/green state ready; set server be_app/blue state drain', green: '172.18.0.9' }
    ])
  })

  it('an address already in place (a rollback, an address Docker gave again): two lines', async () => {
    const proxy = laggingProxy(1)
    const a = admin(proxy.open)
    await a.run(SWITCH, 'the switch')
    const before = proxy.lines.length
    await a.run(SWITCH, 'the switch again')
    expect(proxy.lines.slice(before).map(l => l.line)).toEqual([
      'set server be_app/green state maint; set server be_app/green addr 172.18.0.9 port 3000; show servers state be_app',
      'set server be_app/green state ready; set server be_app/blue state drain'
    ])
  })

  it('is bounded: an address that never shows is an error, and nothing after it was sent', async () => {
    const proxy = laggingProxy(Number.POSITIVE_INFINITY)
    await expect(admin(proxy.open).run(SWITCH, 'the switch of app to green')).rejects.toThrow(
      'HAProxy (cutover-proxy) took the new addresses for the switch of app to green but did not apply them within 2 s (be_app/green: 172.18.0.9:3000, still 172.18.0.4:3000); nothing after them was sent'
    )
    expect(proxy.lines.some(l => l.line.includes('state ready'))).toBe(false)
  })
})
