// Stand-in bundled instead of @grpc/grpc-js, @grpc/proto-loader and protobufjs (see the "paths"
// in tsconfig.json, which ncc applies to every module it resolves). dockerode requires them only
// for BuildKit build sessions and build-progress decoding; cutover never builds images. dockerode
// loads its session module at start-up, so this must load without error; any use throws.
'use strict'
module.exports = new Proxy(
  {},
  {
    get(_target, key) {
      // Answer the probes of module interop helpers instead of throwing at require time.
      if (typeof key === 'symbol' || key === '__esModule' || key === 'default' || key === 'then') return undefined
      throw new Error(`cutover is bundled without gRPC and protobuf (used by dockerode for BuildKit builds only): ${String(key)} is not available`)
    }
  }
)
