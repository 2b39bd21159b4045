import { LedgerFile, type StateFiles } from '../../src/host/ledger-file.js'

// LedgerFile.imagesOfOtherApps: what a prune must leave (issue #22), read from every app's record
// as the host's shell lists them (`@@ <app>` then the record on one line).

function files(ledgers: Record<string, unknown>): StateFiles {
  const text = Object.entries(ledgers)
    .map(([app, rec]) => `\n@@ ${app}\n${typeof rec === 'string' ? rec : JSON.stringify(rec)}`)
    .join('')
  return { readFile: async () => undefined, writeFile: async () => undefined, allLedgers: async () => text, moveFile: async () => false }
}

const release = (image: string, more: Record<string, unknown> = {}) => ({
  id: image,
  instance: image,
  app: 'x',
  color: 'blue',
  image,
  configHash: '',
  kind: 'deploy',
  liveSince: '',
  by: {},
  ...more
})

describe('LedgerFile.imagesOfOtherApps', () => {
  it("names every image of the other apps' records: releases, digests, workers, pending, canary and preview; never the app's own", async () => {
    const ledger = new LedgerFile(
      files({
        web: { version: 1, app: 'web', releases: [release('r/web:2')] },
        shop: {
          version: 1,
          app: 'shop',
          releases: [release('r/shop:2', { digest: 'r/shop@sha256:aa', workers: [{ name: 'q', command: [], image: 'r/queue:1' }] }), release('r/shop:1')],
          pending: release('r/shop:3'),
          canary: { release: release('r/shop:4'), weight: 10, since: '' },
          preview: { release: release('r/shop:5'), since: '' }
        },
        broken: '{not json'
      }),
      'web'
    )
    expect(await ledger.imagesOfOtherApps()).toEqual(
      ['r/shop:2', 'r/shop@sha256:aa', 'r/queue:1', 'r/shop:1', 'r/shop:3', 'r/shop:4', 'r/shop:5'].map(image => ({ app: 'shop', image }))
    )
  })

  it('a listing that cannot be read is an error (the prune then keeps the image), not an empty host', async () => {
    const ledger = new LedgerFile(
      {
        readFile: async () => undefined,
        writeFile: async () => undefined,
        allLedgers: async () => {
          throw new Error('Channel open failure')
        },
        moveFile: async () => false
      },
      'web'
    )
    await expect(ledger.imagesOfOtherApps()).rejects.toThrow('Channel open failure')
  })
})
