import ssh2 from 'ssh2'

/**
 * An ed25519 key pair in OpenSSH format that ssh2 can read back. About 1 in 250 pairs ssh2's own
 * generateKeyPairSync makes fails its parseKey ("Malformed OpenSSH private key"), which made input
 * tests fail now and then: such pairs are drawn again.
 */
export function sshKeyPair(options?: { passphrase: string; cipher: string }): { private: string; public: string } {
  for (let attempt = 0; ; attempt++) {
    const pair = options ? ssh2.utils.generateKeyPairSync('ed25519', options as never) : ssh2.utils.generateKeyPairSync('ed25519')
    const readable = !(ssh2.utils.parseKey(pair.private, options?.passphrase) instanceof Error) && !(ssh2.utils.parseKey(pair.public) instanceof Error)
    if (readable) return pair
    if (attempt > 20) throw new Error('ssh2 made 20 unreadable key pairs in a row')
  }
}
