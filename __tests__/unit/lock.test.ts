import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DeployLock, describeHolder, LockTimeoutError, lockScript, UnsafeLockDirectoryError } from '../../src/host/lock.js'
import type { Log } from '../../src/reporting/log.js'
import type { SshSession } from '../../src/transport/ssh.js'
import { sanitizeHostText } from '../../src/transport/host-text.js'
import { tempDir } from '../support/temp-dirs.js'

const holder = { run: 'acme/web#1', actor: 'alice', repository: 'acme/web', since: '2026-11-02T10:00:00.000Z' }
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64')

/**
 * Every shell a test starts. A failing test leaves its shell holding the lock with stdin open, and
 * Jest would then never exit: each is killed after its test (a no-op for one that already ended).
 */
const shells = new Set<ChildProcess>()
afterEach(() => {
  for (const child of shells) child.kill('SIGKILL')
  shells.clear()
})

/** The lock script run by sh here, as sshd runs it on the host, with its own HOME. */
class ScriptRun {
  output = ''
  readonly exited: Promise<number | null>
  private readonly child: ChildProcess

  constructor(home: string, app: string, timeoutSeconds = 0, who = holder) {
    // lockScript returns `sh -c '<script>'`, as given to sshd's exec: run it through a shell too.
    this.child = spawn('sh', ['-c', lockScript(app, b64(who), timeoutSeconds)], {
      env: { PATH: process.env.PATH, HOME: home },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    shells.add(this.child)
    this.child.stdout!.on('data', d => (this.output += d))
    this.child.stderr!.on('data', d => (this.output += `[stderr] ${d}`))
    this.exited = new Promise(resolve => this.child.on('close', code => resolve(code)))
  }

  async until(text: string): Promise<void> {
    const deadline = Date.now() + 5000
    while (!this.output.includes(text)) {
      if (Date.now() > deadline) throw new Error(`no "${text}" in: ${this.output}`)
      await new Promise(r => setTimeout(r, 10))
    }
  }

  write(line: string): void {
    this.child.stdin!.write(line)
  }

  release(): Promise<number | null> {
    this.child.stdin!.end()
    return this.exited
  }
}

function newHome(): string {
  const home = tempDir('cutover-home-')
  chmodSync(home, 0o700)
  return home
}

const mode = (p: string) => statSync(p).mode & 0o777
const canChown = process.getuid?.() === 0

describe('the lock script, run by sh', () => {
  it('creates ~/.cutover/locks private (0700) and takes the lock', async () => {
    const home = newHome()
    const run = new ScriptRun(home, 'web')
    await run.until('LOCKED')
    expect(mode(join(home, '.cutover'))).toBe(0o700)
    expect(mode(join(home, '.cutover', 'locks'))).toBe(0o700)
    expect(mode(join(home, '.cutover', 'locks', 'web.lock'))).toBe(0o600)
    expect(readFileSync(join(home, '.cutover', 'locks', 'web.holder'), 'utf8').trim()).toBe(b64(holder))
    expect(await run.release()).toBe(0)
  })

  it('removes its holder file when released, still holding the lock; the lock file stays', async () => {
    const home = newHome()
    const first = new ScriptRun(home, 'web')
    await first.until('LOCKED')
    const second = new ScriptRun(home, 'web', 5, { ...holder, run: 'acme/web#2' })
    await second.until('BUSY')
    expect(await first.release()).toBe(0)
    // the waiting run took the lock and wrote its own holder, which the first one's cleanup left alone
    await second.until('LOCKED')
    expect(readFileSync(join(home, '.cutover', 'locks', 'web.holder'), 'utf8').trim()).toBe(b64({ ...holder, run: 'acme/web#2' }))
    expect(await second.release()).toBe(0)
    expect(existsSync(join(home, '.cutover', 'locks', 'web.holder'))).toBe(false)
    expect(existsSync(join(home, '.cutover', 'locks', 'web.lock'))).toBe(true)
  })

  it('a waiter whose run went away (its pipes closed) still removes its holder file once it gets the lock', async () => {
    const home = newHome()
    const first = new ScriptRun(home, 'web')
    await first.until('LOCKED')
    const gone = new ScriptRun(home, 'web', 5, { ...holder, run: 'acme/web#2' })
    await gone.until('BUSY')
    // the run is cancelled: sshd closes the command's pipes
    const child = (gone as unknown as { child: ChildProcess }).child
    child.stdout!.destroy()
    child.stdin!.end()
    await first.release()
    await gone.exited
    expect(existsSync(join(home, '.cutover', 'locks', 'web.holder'))).toBe(false)
  })

  it('leaves a holder file it did not write', async () => {
    const home = newHome()
    const run = new ScriptRun(home, 'web')
    await run.until('LOCKED')
    writeFileSync(join(home, '.cutover', 'locks', 'web.holder'), 'someone else\n')
    expect(await run.release()).toBe(0)
    expect(readFileSync(join(home, '.cutover', 'locks', 'web.holder'), 'utf8')).toBe('someone else\n')
  })

  it('makes the second run wait, naming the holder with base64 characters only', async () => {
    const home = newHome()
    const first = new ScriptRun(home, 'web')
    await first.until('LOCKED')
    // The holder file says something hostile: only its base64 characters come back, on one line.
    writeFileSync(join(home, '.cutover', 'locks', 'web.holder'), '::error::pwned\nLOCKED\n')
    const second = new ScriptRun(home, 'web', 0)
    expect(await second.exited).toBe(75)
    expect(second.output.split('\n').filter(Boolean)).toEqual(['BUSY errorpwnedLOCKED', 'TIMEOUT errorpwnedLOCKED'])
    await first.release()
    const third = new ScriptRun(home, 'web', 0)
    await third.until('LOCKED')
    await third.release()
  })

  it('answers `facts` with the numeric group of a file (the Docker socket) and the CPUs online, "-" for a missing file', async () => {
    const home = newHome()
    const file = join(home, 'a socket path with spaces')
    writeFileSync(file, '')
    if (canChown) chownSync(file, 0, 4321)
    const run = new ScriptRun(home, 'web')
    await run.until('LOCKED')
    const ask = (p: string) => `facts ${Buffer.from(p).toString('base64')}\n`
    run.write(ask(file) + ask(join(home, 'missing')))
    const gid = String(canChown ? 4321 : statSync(file).gid)
    const cpus = execFileSync('getconf', ['_NPROCESSORS_ONLN']).toString().trim()
    const answer = (v: string) => `OK ${v.length}\n${v}`
    await run.until(answer(`- ${cpus}`))
    expect(run.output).toBe(`LOCKED\n${answer(`${gid} ${cpus}`)}${answer(`- ${cpus}`)}`)
    await run.release()
  })

  it('put makes the directory a first write needs (private), writes into one that exists, and get reads it back', async () => {
    const home = newHome()
    const run = new ScriptRun(home, 'web')
    await run.until('LOCKED')
    const write = (path: string, text: string) => run.write(`put ${path} ${Buffer.from(text).toString('base64')}\n`)
    write('.cutover/apps/web/releases.json', '{"v":1}')
    await run.until('OK 0\n')
    expect(mode(join(home, '.cutover', 'apps', 'web'))).toBe(0o700)
    write('.cutover/apps/web/releases.json', '{"v":2}')
    run.write('get .cutover/apps/web/releases.json\n')
    await run.until('{"v":2}')
    expect(run.output).toBe('LOCKED\nOK 0\nOK 0\nOK 7\n{"v":2}')
    expect(readFileSync(join(home, '.cutover', 'apps', 'web', 'releases.json'), 'utf8')).toBe('{"v":2}')
    expect(await run.release()).toBe(0)
  })

  it('keeps the ledger layout: other directories under ~/.cutover are left alone', async () => {
    const home = newHome()
    mkdirSync(join(home, '.cutover', 'apps', 'web'), { recursive: true, mode: 0o700 })
    chmodSync(join(home, '.cutover'), 0o755)
    const run = new ScriptRun(home, 'web')
    await run.until('LOCKED')
    expect(existsSync(join(home, '.cutover', 'apps', 'web'))).toBe(true)
    await run.release()
  })

  ;(canChown ? it : it.skip)('answers ERR, not NONE, for a state file the SSH user cannot read', async () => {
    const home = newHome()
    mkdirSync(join(home, '.cutover', 'apps', 'web'), { recursive: true, mode: 0o700 })
    writeFileSync(join(home, '.cutover', 'apps', 'web', 'releases.json'), '{}', { mode: 0o600 })
    for (const p of [home, join(home, '.cutover'), join(home, '.cutover', 'apps'), join(home, '.cutover', 'apps', 'web')]) chownSync(p, 65534, 65534)
    // the file stays root's: the SSH user (uid 65534 here) cannot read it
    const child = spawn('sh', ['-c', lockScript('web', b64(holder), 0)], { env: { PATH: process.env.PATH, HOME: home }, uid: 65534, gid: 65534 })
    shells.add(child)
    let output = ''
    child.stdout.on('data', d => (output += d))
    child.stdin.write('get .cutover/apps/web/releases.json\n')
    child.stdin.end()
    await new Promise(r => child.on('close', r))
    expect(output).toBe('LOCKED\nERR .cutover/apps/web/releases.json cannot be read by the SSH user\n')
  })

  it('refuses a ~/.cutover that is a symbolic link, and writes nothing through it', async () => {
    const home = newHome()
    const elsewhere = tempDir('cutover-elsewhere-')
    symlinkSync(elsewhere, join(home, '.cutover'))
    const run = new ScriptRun(home, 'web')
    expect(await run.exited).toBe(73)
    expect(run.output).toBe(`UNSAFE ${home}/.cutover is a symbolic link\n`)
    expect(existsSync(join(elsewhere, 'locks'))).toBe(false)
  })

  it('refuses a lock file that is a symbolic link: the file it points to is untouched', async () => {
    const home = newHome()
    mkdirSync(join(home, '.cutover', 'locks'), { recursive: true, mode: 0o700 })
    const victim = join(tempDir('cutover-victim-'), 'passwd')
    writeFileSync(victim, 'root:x:0:0\n')
    symlinkSync(victim, join(home, '.cutover', 'locks', 'web.lock'))
    const run = new ScriptRun(home, 'web')
    expect(await run.exited).toBe(73)
    expect(run.output).toContain('web.lock is a symbolic link')
    expect(readFileSync(victim, 'utf8')).toBe('root:x:0:0\n')
  })

  it('refuses a holder file that is a symbolic link, or a lock that is not a regular file', async () => {
    const home = newHome()
    mkdirSync(join(home, '.cutover', 'locks'), { recursive: true, mode: 0o700 })
    symlinkSync('/etc/passwd', join(home, '.cutover', 'locks', 'web.holder'))
    mkdirSync(join(home, '.cutover', 'locks', 'api.lock'))
    const web = new ScriptRun(home, 'web')
    const api = new ScriptRun(home, 'api')
    expect(await web.exited).toBe(73)
    expect(web.output).toContain('web.holder is a symbolic link')
    expect(await api.exited).toBe(73)
    expect(api.output).toContain('api.lock is not a regular file')
    expect(lstatSync(join(home, '.cutover', 'locks', 'web.holder')).isSymbolicLink()).toBe(true)
  })

  it.each([
    ['~/.cutover', '.cutover', 0o777],
    ['~/.cutover/locks', '.cutover/locks', 0o770],
    ['$HOME', '', 0o757]
  ])('refuses a %s writable by group or others', async (_, dir, perm) => {
    const home = newHome()
    mkdirSync(join(home, '.cutover', 'locks'), { recursive: true, mode: 0o700 })
    chmodSync(join(home, dir), perm)
    const run = new ScriptRun(home, 'web')
    expect(await run.exited).toBe(73)
    expect(run.output).toMatch(/^UNSAFE .* is writable by group or others \(d[rwx-]{9}\S*\)\n$/)
  })

  ;(canChown ? it : it.skip)('refuses a ~/.cutover owned by another user', async () => {
    const home = newHome()
    mkdirSync(join(home, '.cutover'), { mode: 0o700 })
    chownSync(join(home, '.cutover'), 65534, 65534)
    const run = new ScriptRun(home, 'web')
    expect(await run.exited).toBe(73)
    expect(run.output).toBe(`UNSAFE ${home}/.cutover is owned by uid 65534, not by the SSH user (uid ${process.getuid!()})\n`)
  })
})

describe('host text in the log', () => {
  it('sanitizeHostText: one line, no control characters, no leading ::, bounded', () => {
    expect(sanitizeHostText('a\nb\r\n::error::c\u0007\u2028d')).toBe('a b ::error::c d')
    expect(sanitizeHostText('\n::error::injected')).toBe('error::injected')
    expect(sanitizeHostText('  ::add-mask::x')).toBe('add-mask::x')
    expect(sanitizeHostText('\u001b[31mred\u001b[0m')).toBe('[31mred [0m')
    expect(sanitizeHostText('x'.repeat(500), 10)).toBe('xxxxxxxxx…')
    expect(Array.from(sanitizeHostText('😀'.repeat(20), 5))).toHaveLength(5)
  })

  it('describeHolder sanitizes every field of the holder the host reports', () => {
    const evil = { run: 'x\n::error::Deploy succeeded', actor: '\r\n::add-mask::', repository: 'a'.repeat(1000), since: 'now' }
    const text = describeHolder(b64(evil))
    expect(text).not.toMatch(/[\r\n]/)
    expect(text.startsWith('run x ::error::Deploy succeeded by add-mask:: (')).toBe(true)
    expect(text.length).toBeLessThanOrEqual(400)
    expect(describeHolder(b64(holder))).toBe('run acme/web#1 by alice (acme/web) since 2026-11-02T10:00:00.000Z')
    expect(describeHolder('not base64 json')).toBe('an unknown holder')
    expect(describeHolder(b64(null))).toBe('an unknown holder')
  })
})

/** A channel as ssh2 gives it: data on stdout, a stderr stream, close with the exit code. */
class FakeChannel extends EventEmitter {
  stderr = new EventEmitter()
  ended = false
  end() {
    this.ended = true
  }
  close() {
    this.emit('close', 0)
  }
}

function fakeSsh(channel: FakeChannel): SshSession {
  return { execStream: async () => channel } as unknown as SshSession
}

function recorder(): Log & { lines: string[] } {
  const lines: string[] = []
  return { lines, info: m => lines.push(m), warning: m => lines.push(m), error: m => lines.push(m), group: (_, fn) => fn() }
}

describe('DeployLock.acquire', () => {
  it('logs a hostile holder as one sanitized line, and fails naming it', async () => {
    const channel = new FakeChannel()
    const log = recorder()
    const acquiring = DeployLock.acquire(fakeSsh(channel), 'web', holder, 2000, log)
    await new Promise(r => setImmediate(r))
    const evil = b64({ run: '1\n::error::fake failure', actor: 'mallory', repository: 'r', since: 's' })
    channel.emit('data', Buffer.from(`BUSY ${evil}\nTIMEOUT ${evil}\n`))
    await expect(acquiring).rejects.toThrow(LockTimeoutError)
    await expect(acquiring).rejects.toThrow(
      'The deploy lock of web is still held by run 1 ::error::fake failure by mallory (r) since s after waiting 2 s (lock-timeout)'
    )
    expect(log.lines).toEqual(['Another deploy of web holds the lock: run 1 ::error::fake failure by mallory (r) since s; waiting up to 2 s'])
  })

  it('refuses an unsafe lock directory with one clear sentence', async () => {
    const channel = new FakeChannel()
    const acquiring = DeployLock.acquire(fakeSsh(channel), 'web', holder, 2000, recorder())
    await new Promise(r => setImmediate(r))
    channel.emit('data', Buffer.from('UNSAFE /root/.cutover is a symbolic link\n::error::x\n'))
    await expect(acquiring).rejects.toThrow(UnsafeLockDirectoryError)
    await expect(acquiring).rejects.toThrow(
      'The deploy lock of web was not taken because its place on the host is unsafe: /root/.cutover is a symbolic link. cutover keeps its locks in ~/.cutover/locks'
    )
  })

  it('resolves on LOCKED and releases by ending the channel, even when the connection is gone', async () => {
    const channel = new FakeChannel()
    const acquiring = DeployLock.acquire(fakeSsh(channel), 'web', holder, 2000, recorder())
    await new Promise(r => setImmediate(r))
    channel.emit('data', Buffer.from('LOC'))
    channel.emit('data', Buffer.from('KED\n'))
    const lock = await acquiring
    lock.release()
    expect(channel.ended).toBe(true)
    channel.close = () => {
      throw new Error('Not connected')
    }
    expect(() => lock.release()).not.toThrow()
  })

  it('fails when the channel errors or closes before the lock is taken', async () => {
    const channel = new FakeChannel()
    const acquiring = DeployLock.acquire(fakeSsh(channel), 'web', holder, 2000, recorder())
    await new Promise(r => setImmediate(r))
    channel.emit('error', new Error('the SSH connection to root@h:22 was lost'))
    await expect(acquiring).rejects.toThrow('the SSH connection to root@h:22 was lost')
  })
})

/** An SshSession whose exec runs the command with sh here, with its own HOME: the real script, the real protocol. */
function localShell(home: string): SshSession {
  return {
    execStream: async (command: string) => {
      const child = spawn('sh', ['-c', command], { env: { PATH: process.env.PATH, HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] })
      shells.add(child)
      const channel = Object.assign(new EventEmitter(), {
        stderr: child.stderr!,
        write: (d: string) => child.stdin!.write(d),
        end: () => child.stdin!.end(),
        close: () => child.kill()
      })
      child.stdout!.on('data', d => channel.emit('data', d))
      child.on('close', code => channel.emit('close', code))
      return channel
    }
  } as unknown as SshSession
}

describe('the shell that holds the lock serves the state files', () => {
  it("reads the host's facts in one request: a file's numeric group and the CPUs online, each undefined when it cannot be read", async () => {
    const home = newHome()
    const file = join(home, 'docker.sock')
    writeFileSync(file, '')
    const lock = await DeployLock.acquire(localShell(home), 'web', holder, 2000, recorder())
    const cpus = Number(execFileSync('getconf', ['_NPROCESSORS_ONLN']).toString().trim())
    expect(cpus).toBeGreaterThan(0)
    if (canChown) chownSync(file, 0, 4321)
    expect(await lock.facts(file)).toEqual({ dockerGroup: statSync(file).gid, cpus })
    expect(await lock.facts(join(home, 'missing.sock'))).toEqual({ dockerGroup: undefined, cpus })
    // a path with spaces and quotes reaches the host as one argument
    const odd = join(home, "a 'b' c")
    writeFileSync(odd, '')
    expect((await lock.facts(odd)).dockerGroup).toBe(statSync(odd).gid)
    lock.release()
  })

  it('moves a ledger aside (mode remove): no longer listed, never over a file already there, none when there is none', async () => {
    const home = newHome()
    const lock = await DeployLock.acquire(localShell(home), 'web', holder, 2000, recorder())
    await lock.writeFile('.cutover/apps/web/releases.json', '{"app":"web"}')
    expect(await lock.moveFile('.cutover/apps/web/releases.json', '.cutover/apps/web/removed-1.json')).toBe(true)
    expect(readFileSync(join(home, '.cutover/apps/web/removed-1.json'), 'utf8')).toBe('{"app":"web"}')
    expect(await lock.readFile('.cutover/apps/web/releases.json')).toBeUndefined()
    expect(await lock.allLedgers()).not.toContain('@@ web')
    expect(await lock.moveFile('.cutover/apps/web/releases.json', '.cutover/apps/web/removed-2.json')).toBe(false)
    await lock.writeFile('.cutover/apps/web/releases.json', '{"app":"web"}')
    await expect(lock.moveFile('.cutover/apps/web/releases.json', '.cutover/apps/web/removed-1.json')).rejects.toThrow('already exists')
    lock.release()
  })

  it('writes atomically (0600 in 0700 directories), reads back byte for byte, lists every ledger, says when a file is missing', async () => {
    const home = newHome()
    const lock = await DeployLock.acquire(localShell(home), 'web', holder, 2000, recorder())
    const text = '{"version":1,"app":"web","releases":[],"note":"ünïcode\\n\\nand trailing newlines"}\n\n'
    await lock.writeFile('.cutover/apps/web/releases.json', text)
    expect(readFileSync(join(home, '.cutover/apps/web/releases.json'), 'utf8')).toBe(text)
    expect(mode(join(home, '.cutover/apps/web/releases.json'))).toBe(0o600)
    expect(mode(join(home, '.cutover/apps/web'))).toBe(0o700)
    expect(await lock.readFile('.cutover/apps/web/releases.json')).toBe(text)
    expect(await lock.readFile('.cutover/apps/none/releases.json')).toBeUndefined()
    await lock.writeFile('.cutover/apps/shop/releases.json', '{\n "app": "shop"\n}\n')
    const all = await lock.allLedgers()
    expect(all).toContain('\n@@ shop\n{ "app": "shop"}')
    expect(all).toContain('\n@@ web\n{"version":1')
    // several requests in flight come back in order
    const many = await Promise.all([1, 2, 3].map(() => lock.readFile('.cutover/apps/shop/releases.json')))
    expect(many).toEqual(['{\n "app": "shop"\n}\n', '{\n "app": "shop"\n}\n', '{\n "app": "shop"\n}\n'])
    lock.release()
  })

  it('says a state file is a symbolic link or a directory instead of reporting it missing', async () => {
    const home = newHome()
    const lock = await DeployLock.acquire(localShell(home), 'web', holder, 2000, recorder())
    mkdirSync(join(home, '.cutover/apps/dir/releases.json'), { recursive: true })
    mkdirSync(join(home, '.cutover/apps/link'), { recursive: true })
    writeFileSync(join(home, 'elsewhere.json'), '{}')
    symlinkSync(join(home, 'elsewhere.json'), join(home, '.cutover/apps/link/releases.json'))
    await expect(lock.readFile('.cutover/apps/dir/releases.json')).rejects.toThrow(
      'the host refused: .cutover/apps/dir/releases.json is not a regular file (a directory?)'
    )
    await expect(lock.readFile('.cutover/apps/link/releases.json')).rejects.toThrow('the host refused: .cutover/apps/link/releases.json is a symbolic link')
    // nor is either written through
    await expect(lock.writeFile('.cutover/apps/dir/releases.json', '{}')).rejects.toThrow('.cutover/apps/dir/releases.json is not a regular file')
    await expect(lock.writeFile('.cutover/apps/link/releases.json', '{}')).rejects.toThrow('.cutover/apps/link/releases.json is not a regular file')
    expect(readdirSync(join(home, '.cutover/apps/dir/releases.json'))).toEqual([])
    expect(readFileSync(join(home, 'elsewhere.json'), 'utf8')).toBe('{}')
    // and the shell still serves
    expect(await lock.readFile('.cutover/apps/none/releases.json')).toBeUndefined()
    lock.release()
  })

  it('keeps the lock while it serves, and frees it when released', async () => {
    const home = newHome()
    const first = await DeployLock.acquire(localShell(home), 'web', holder, 2000, recorder())
    await first.writeFile('.cutover/apps/web/releases.json', '{}')
    const second = DeployLock.acquire(localShell(home), 'web', holder, 1000, recorder())
    await expect(second).rejects.toThrow(LockTimeoutError)
    first.release()
    const third = await DeployLock.acquire(localShell(home), 'web', holder, 2000, recorder())
    expect(await third.readFile('.cutover/apps/web/releases.json')).toBe('{}')
    third.release()
  }, 30_000) // three shells and a 1 s wait: a busy machine needs more than jest's 5 s
})

describe('another lock (the shared proxy) taken by the shell that holds the deploy lock', () => {
  const proxyLock = (home: string) => join(home, '.cutover', 'locks', 'proxy.p.holder')

  it('takes it when free, writing its holder; a separate acquire waits until it is released, and the app lock stays', async () => {
    const home = newHome()
    const shell = await DeployLock.acquire(localShell(home), 'web', holder, 2000, recorder())
    const proxy = await shell.tryLock('proxy.p', holder)
    expect(proxy).toBeDefined()
    expect(readFileSync(proxyLock(home), 'utf8').trim()).toBe(b64(holder))
    // the same shell does not take it twice (a second OFD on fd 8 would drop the first flock)
    expect(await shell.tryLock('proxy.p', holder)).toBeUndefined()
    // another run waits on a channel of its own, naming this holder
    const log = recorder()
    const other = DeployLock.acquire(localShell(home), 'proxy.p', { ...holder, run: 'acme/api#7' }, 5000, log)
    // until it says so (its shell starts first: a fixed 300 ms failed on a busy machine)
    for (const until = Date.now() + 4000; !log.lines.join('\n').includes('run acme/web#1 by alice') && Date.now() < until;) {
      await new Promise(r => setTimeout(r, 25))
    }
    expect(log.lines.join('\n')).toContain('run acme/web#1 by alice')
    proxy!.release()
    const taken = await other
    // the holder file was dropped while still locked, then the waiter wrote its own
    expect(readFileSync(proxyLock(home), 'utf8').trim()).toBe(b64({ ...holder, run: 'acme/api#7' }))
    // busy now for this shell: undefined, not a wait
    expect(await shell.tryLock('proxy.p', holder)).toBeUndefined()
    taken.release()
    // the app lock is still this shell's, and the shell still serves
    await expect(DeployLock.acquire(localShell(home), 'web', holder, 0, recorder())).rejects.toThrow(LockTimeoutError)
    const again = await shell.tryLock('proxy.p', holder)
    expect(again).toBeDefined()
    await shell.writeFile('.cutover/apps/web/releases.json', '{}')
    again!.release()
    // answered after the unlock: the shell has run it
    expect(await shell.readFile('.cutover/apps/web/releases.json')).toBe('{}')
    expect(existsSync(proxyLock(home))).toBe(false)
    shell.release()
  }, 30_000)

  it('refuses a holder that is a symbolic link, keeps serving, and frees the lock when the shell ends', async () => {
    const home = newHome()
    const shell = await DeployLock.acquire(localShell(home), 'web', holder, 2000, recorder())
    symlinkSync('/etc/passwd', join(home, '.cutover', 'locks', 'proxy.q.holder'))
    await expect(shell.tryLock('proxy.q', holder)).rejects.toThrow('not a regular file')
    expect(await shell.readFile('.cutover/apps/none/releases.json')).toBeUndefined()
    const proxy = await shell.tryLock('proxy.p', holder)
    expect(proxy).toBeDefined()
    shell.release()
    // the shell's end drops the flock and the holder file
    const next = await DeployLock.acquire(localShell(home), 'proxy.p', holder, 5000, recorder())
    next.release()
    expect(lstatSync(join(home, '.cutover', 'locks', 'proxy.q.holder')).isSymbolicLink()).toBe(true)
  }, 30_000)
})
