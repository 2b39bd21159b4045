import { imageToServe, parseImageRequests, renderImageRequests } from '../../src/proxy/haproxy-image-requests.js'

// Apps giving different proxy-image values on one proxy: the latest change of any app wins, so the
// proxy is not handed back and forth on each deploy.

const everyone = () => true

describe('imageToServe', () => {
  it('hands the proxy over to an image an app gives for the first time, or changes to', () => {
    expect(imageToServe(new Map(), 'a', 'hap:2.8', 'hap:2.6', everyone)).toEqual({ image: 'hap:2.8' })
    expect(imageToServe(new Map([['a', 'hap:2.6']]), 'a', 'hap:2.8', 'hap:2.6', everyone)).toEqual({ image: 'hap:2.8' })
    // b gave 2.8 after a's 2.6; a changes to 2.9: its change is the latest
    expect(
      imageToServe(
        new Map([
          ['a', 'hap:2.6'],
          ['b', 'hap:2.8']
        ]),
        'a',
        'hap:2.9',
        'hap:2.8',
        everyone
      )
    ).toEqual({ image: 'hap:2.9' })
  })

  it("keeps the image another app gave after this app's unchanged one, and names that app", () => {
    const requests = new Map([
      ['a', 'hap:2.6'],
      ['b', 'hap:2.8']
    ])
    expect(imageToServe(requests, 'a', 'hap:2.6', 'hap:2.8', everyone)).toEqual({ image: 'hap:2.8', keptFor: 'b' })
  })

  it('does not keep an image for an app no longer on the proxy, nor one nobody gave', () => {
    const requests = new Map([
      ['a', 'hap:2.6'],
      ['b', 'hap:2.8']
    ])
    expect(imageToServe(requests, 'a', 'hap:2.6', 'hap:2.8', app => app !== 'b')).toEqual({ image: 'hap:2.6' })
    expect(imageToServe(new Map([['a', 'hap:2.6']]), 'a', 'hap:2.6', 'haproxy:default', everyone)).toEqual({ image: 'hap:2.6' })
  })

  it('without a proxy-image, what serves stays', () => {
    expect(imageToServe(new Map([['b', 'hap:2.8']]), 'a', undefined, 'hap:2.8', everyone)).toEqual({ image: 'hap:2.8' })
    expect(imageToServe(new Map(), 'a', undefined, undefined, everyone)).toEqual({ image: undefined })
  })
})

describe('the requests file', () => {
  it('reads back what it writes, and skips its comment and blank lines', () => {
    const requests = new Map([
      ['shop', '127.0.0.1:5000/haproxy:2.8'],
      ['blog', 'haproxy:2.6']
    ])
    const text = renderImageRequests(requests)
    expect(text.startsWith('# ')).toBe(true)
    expect(parseImageRequests(text)).toEqual(requests)
    expect(parseImageRequests(undefined)).toEqual(new Map())
  })
})
