'use strict';
// cutover test-bed app: a tiny dependency-free HTTP server baked into the
// 127.0.0.1:5000/cutover-test/app:<tag> images by scripts/testbed/up.sh.
//
// Env: PORT (3000), VERSION (baked per tag), BOOT_DELAY_MS (1500: listen only
// after this delay, like a real app booting), MODE (baked: ok | unhealthy |
// crash), SHUTDOWN_TIMEOUT_MS (10000: upper bound of the SIGTERM drain),
// ERROR_PERCENT (0: that share of GET / answers 500 "error", evenly spread;
// /health is unaffected: an app that looks healthy but fails its users),
// DELAY_MS (0: GET / answers after that many ms, capped at 60000; /health is
// unaffected: an app that looks healthy but is slow for its users),
// DELAY_PERCENT (100: the share of GET / that DELAY_MS delays, evenly spread:
// a slow tail that a mean hides and a p95 shows).
//
// GET /            200 "<VERSION>\n" (every answer carries X-App-Version)
// GET /health      200 "ok" (500 "unhealthy" in MODE=unhealthy)
// GET /slow?ms=N   200 "<VERSION>\n" after N ms (capped at 60000)
// GET /events      Server-Sent Events: "data: <VERSION>" every 500 ms
// GET /ws          WebSocket: a text frame "<VERSION>" every 500 ms
//
// SIGTERM: stop accepting, close idle keep-alive sockets, let in-flight
// requests finish (answering with Connection: close), end SSE streams and
// send WebSocket close 1001, then exit 0; forced exit 0 after the timeout.
//
// REQUIRE_SCHEMA=<dir>: at boot, exit 4 unless <dir>/schema holds VERSION
// (written by the migrate mode: a web version that checks its migration ran).
//
// Other modes, by first argument (for worker roles and release commands):
//   app.js queue     an in-memory job queue on PORT: GET /push?n=N,
//                    /take?by=W (200 job id, or 204), /done?job=J&by=W, /stats
//   app.js worker    takes jobs from QUEUE_URL, "works" JOB_MS (300) on each,
//                    reports it done by "<VERSION>@<hostname>"; SIGTERM:
//                    finishes the job in hand, takes no more, exits 0
//   app.js migrate [--exit=N] [--sleep=MS]   writes VERSION to
//                    $MIGRATIONS_DIR/schema, appends it to migrations.log,
//                    sleeps MS, exits N (0)

const PORT = Number(process.env.PORT || 3000);
const VERSION = process.env.VERSION || 'dev';
const MODE = process.env.MODE || 'ok';
const BOOT_DELAY_MS = Number(process.env.BOOT_DELAY_MS ?? 1500);
const SHUTDOWN_TIMEOUT_MS = Number(process.env.SHUTDOWN_TIMEOUT_MS || 10000);
const ERROR_PERCENT = Math.min(100, Math.max(0, Number(process.env.ERROR_PERCENT || 0)));
const DELAY_MS = Math.min(60000, Math.max(0, Number(process.env.DELAY_MS || 0)));
const DELAY_PERCENT = Math.min(100, Math.max(0, Number(process.env.DELAY_PERCENT ?? 100)));
const TICK_MS = 500;
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

// Works both as CommonJS (inside the image) and as ESM (in this repo, whose
// package.json says "type": "module"): only dynamic import() is common to both.
// A first argument that is a flag (the settings e2e passes --flag) leaves the web role.
const ROLE = process.argv[2] && !process.argv[2].startsWith('-') ? process.argv[2] : 'web';
Promise.all([import('node:http'), import('node:crypto'), import('node:fs'), import('node:os')]).then(([http, crypto, fs, os]) => {
  if (ROLE === 'queue') return queue(http);
  if (ROLE === 'worker') return worker(http, os);
  if (ROLE === 'migrate') return migrate(fs);
  if (ROLE !== 'web') {
    process.stderr.write(`cutover-test app: unknown mode ${ROLE}\n`);
    process.exit(2);
  }
  return main(http, crypto, fs);
});

function queue(http) {
  let next = 1;
  const pending = [];
  const taken = new Map(); // job -> taker
  const done = new Map(); // job -> [who, ...]
  const times = new Map(); // job -> [taken at, done at] (ms since the epoch)
  http.createServer((req, res) => {
    const url = new URL(req.url, 'http://queue');
    const q = (k) => url.searchParams.get(k);
    const reply = (status, body) => {
      res.writeHead(status, { 'Content-Type': 'text/plain' });
      res.end(body);
    };
    if (url.pathname === '/push') {
      const ids = [];
      for (let i = 0; i < Number(q('n') || 1); i++) ids.push(next++);
      pending.push(...ids);
      return reply(200, ids.join(','));
    }
    if (url.pathname === '/take') {
      const job = pending.shift();
      if (job === undefined) return reply(204, '');
      taken.set(job, q('by'));
      times.set(job, [Date.now()]);
      return reply(200, String(job));
    }
    if (url.pathname === '/done') {
      const job = Number(q('job'));
      done.set(job, [...(done.get(job) || []), q('by')]);
      taken.delete(job);
      times.set(job, [...(times.get(job) || []), Date.now()]);
      return reply(200, 'ok');
    }
    if (url.pathname === '/stats') {
      const body = { pushed: next - 1, pending: pending.length, taken: Object.fromEntries(taken), done: Object.fromEntries(done), times: Object.fromEntries(times) };
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify(body));
    }
    reply(404, 'not found');
  }).listen(PORT, () => console.log(`cutover-test queue listening on :${PORT}`));
}

function worker(http, os) {
  const base = process.env.QUEUE_URL || 'http://queue:3000';
  const jobMs = Number(process.env.JOB_MS || 300);
  const me = `${VERSION}@${os.hostname()}`;
  let stopping = false;
  let inHand;
  const call = (path) => new Promise((resolve) => {
    const req = http.get(base + path, { timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, body: e.message }));
  });
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  process.on('SIGTERM', () => {
    stopping = true;
    console.log(`worker ${me}: SIGTERM, ${inHand ? `finishing job ${inHand}` : 'idle'}, taking no more jobs`);
  });
  console.log(`worker ${me}: consuming ${base}`);
  (async () => {
    let count = 0;
    while (!stopping) {
      const job = await call(`/take?by=${encodeURIComponent(me)}`);
      if (job.status !== 200) {
        if (job.status !== 204) console.log(`worker ${me}: queue: ${job.status} ${job.body}`);
        await sleep(job.status === 204 ? 50 : 500);
        continue;
      }
      inHand = job.body;
      await sleep(jobMs);
      await call(`/done?job=${inHand}&by=${encodeURIComponent(me)}`);
      inHand = undefined;
      count++;
    }
    console.log(`worker ${me}: stopped gracefully after ${count} job(s)`);
    process.exit(0);
  })();
}

function migrate(fs) {
  const arg = (name, fallback) => {
    const a = process.argv.find((x) => x.startsWith(`--${name}=`));
    return a ? Number(a.slice(name.length + 3)) : fallback;
  };
  const dir = process.env.MIGRATIONS_DIR || '/data';
  console.log(`migrating schema to ${VERSION} in ${dir}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.appendFileSync(`${dir}/migrations.log`, `${VERSION}\n`);
  fs.writeFileSync(`${dir}/schema`, VERSION);
  const code = arg('exit', 0);
  setTimeout(() => {
    console.log(code ? `migration failed with code ${code}` : 'migration done');
    process.exit(code);
  }, arg('sleep', 0));
}

function main(http, crypto, fs) {
  if (process.env.REQUIRE_SCHEMA) {
    let schema = '(none)';
    try {
      schema = fs.readFileSync(`${process.env.REQUIRE_SCHEMA}/schema`, 'utf8').trim();
    } catch {}
    if (schema !== VERSION) {
      process.stderr.write(`cutover-test app ${VERSION}: schema is ${schema}, not ${VERSION}: run the migration first\n`);
      process.exit(4);
    }
  }
  if (MODE === 'crash') {
    process.stderr.write(`cutover-test app ${VERSION}: MODE=crash, exiting with code 3\n`);
    process.exit(3);
  }

  let draining = false;
  const sockets = new Set(); // every accepted TCP socket
  const streams = new Set(); // functions that end an SSE / WebSocket stream

  const server = http.createServer((req, res) => {
    const sock = req.socket;
    sock.inflight = (sock.inflight || 0) + 1;
    let done = false;
    const finished = () => {
      if (done) return;
      done = true;
      sock.inflight -= 1;
    };
    res.on('finish', finished);
    res.on('close', finished);
    route(req, res);
  });
  server.keepAliveTimeout = 65000; // longer than nginx's, so the proxy closes first

  server.on('connection', (sock) => {
    sock.inflight = 0;
    sockets.add(sock);
    sock.on('close', () => {
      sockets.delete(sock);
      if (draining) maybeExit();
    });
    if (draining) sock.destroy();
  });

  function send(res, status, body, type = 'text/plain; charset=utf-8') {
    const headers = {
      'Content-Type': type,
      'Content-Length': Buffer.byteLength(body),
      'X-App-Version': VERSION,
    };
    if (draining) headers.Connection = 'close';
    res.writeHead(status, headers);
    res.end(body);
  }

  let errorDebt = 0;
  let delayDebt = 0;
  function route(req, res) {
    const url = new URL(req.url, 'http://app');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, 'method not allowed\n');
    }
    switch (url.pathname) {
      case '/': {
        // ERROR_PERCENT: every request adds the share; each time it passes 100, one 500.
        errorDebt += ERROR_PERCENT;
        const failed = errorDebt >= 100;
        if (failed) errorDebt -= 100;
        const answer = () => (failed ? send(res, 500, 'error\n') : send(res, 200, `${VERSION}\n`));
        // DELAY_PERCENT: the same even spread for the delayed share.
        delayDebt += DELAY_PERCENT;
        const delayed = delayDebt >= 100;
        if (delayed) delayDebt -= 100;
        if (!DELAY_MS || !delayed) return answer();
        const t = setTimeout(answer, DELAY_MS);
        res.on('close', () => clearTimeout(t));
        return;
      }
      case '/health':
        return MODE === 'unhealthy' ? send(res, 500, 'unhealthy\n') : send(res, 200, 'ok\n');
      case '/slow': {
        let ms = Number(url.searchParams.get('ms') || 1000);
        if (!Number.isFinite(ms) || ms < 0) ms = 0;
        ms = Math.min(ms, 60000);
        const t = setTimeout(() => send(res, 200, `${VERSION}\n`), ms);
        res.on('close', () => clearTimeout(t));
        return;
      }
      case '/events':
        return events(req, res);
      default:
        return send(res, 404, 'not found\n');
    }
  }

  function events(req, res) {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
      'X-App-Version': VERSION,
    });
    let n = 0;
    const tick = () => res.write(`id: ${++n}\ndata: ${VERSION}\n\n`);
    tick();
    const timer = setInterval(tick, TICK_MS);
    const end = () => {
      clearInterval(timer);
      res.end();
    };
    streams.add(end);
    res.on('close', () => {
      clearInterval(timer);
      streams.delete(end);
    });
  }

  // --- WebSocket (RFC 6455), just enough: text frames out, close/ping in. ---
  function wsFrame(opcode, payload) {
    const len = payload.length;
    let head;
    if (len < 126) {
      head = Buffer.from([0x80 | opcode, len]);
    } else if (len < 65536) {
      head = Buffer.alloc(4);
      head[0] = 0x80 | opcode;
      head[1] = 126;
      head.writeUInt16BE(len, 2);
    } else {
      head = Buffer.alloc(10);
      head[0] = 0x80 | opcode;
      head[1] = 127;
      head.writeBigUInt64BE(BigInt(len), 2);
    }
    return Buffer.concat([head, payload]);
  }

  server.on('upgrade', (req, sock, head) => {
    const key = req.headers['sec-websocket-key'];
    const path = new URL(req.url, 'http://app').pathname;
    if (draining || path !== '/ws' || !key ||
        String(req.headers.upgrade).toLowerCase() !== 'websocket') {
      sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const accept = crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
    sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\nX-App-Version: ${VERSION}\r\n\r\n`);
    sock.setNoDelay(true);
    sock.inflight = 1; // never "idle"
    let closing = false;
    const timer = setInterval(() => sock.write(wsFrame(0x1, Buffer.from(VERSION))), TICK_MS);
    sock.write(wsFrame(0x1, Buffer.from(VERSION)));
    const close = (code) => {
      if (closing) return;
      closing = true;
      clearInterval(timer);
      const body = Buffer.alloc(2);
      body.writeUInt16BE(code, 0);
      sock.write(wsFrame(0x8, body));
      // Wait for the peer's close frame (or its FIN), bounded.
      setTimeout(() => sock.destroy(), 2000).unref();
    };
    const end = () => close(1001); // going away
    streams.add(end);
    sock.on('close', () => {
      clearInterval(timer);
      streams.delete(end);
    });
    sock.on('error', () => {});
    let buf = head && head.length ? Buffer.from(head) : Buffer.alloc(0);
    const parse = () => {
      for (;;) {
        if (buf.length < 2) return;
        const opcode = buf[0] & 0x0f;
        const masked = (buf[1] & 0x80) !== 0;
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        const maskOff = off;
        if (masked) off += 4;
        if (buf.length < off + len) return;
        const payload = Buffer.from(buf.subarray(off, off + len));
        if (masked) for (let i = 0; i < len; i++) payload[i] ^= buf[maskOff + (i % 4)];
        buf = buf.subarray(off + len);
        if (opcode === 0x8) { // close: echo the code, then end
          if (!closing) {
            closing = true;
            clearInterval(timer);
            sock.write(wsFrame(0x8, payload.subarray(0, 2)));
          }
          sock.end();
          return;
        } else if (opcode === 0x9) { // ping -> pong
          if (!closing) sock.write(wsFrame(0xa, payload));
        } // text, binary, pong, continuation: ignored
      }
    };
    sock.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      parse();
    });
    parse();
  });

  // --- graceful shutdown ---
  function maybeExit() {
    if (sockets.size === 0) {
      console.log(`cutover-test app ${VERSION}: drained, exiting`);
      process.exit(0);
    }
  }

  function shutdown(signal) {
    if (draining) return;
    draining = true;
    console.log(`cutover-test app ${VERSION}: ${signal}, draining ${sockets.size} connection(s)`);
    if (!server.listening) process.exit(0); // still "booting"
    server.close();
    for (const end of [...streams]) end();
    for (const sock of sockets) if (!sock.inflight) sock.destroy();
    setTimeout(() => {
      console.log(`cutover-test app ${VERSION}: drain timeout, cutting ${sockets.size} connection(s)`);
      process.exit(0);
    }, SHUTDOWN_TIMEOUT_MS).unref();
    maybeExit();
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  // A keep-alive socket that finishes its last request while draining closes
  // itself (Connection: close); one that turns idle otherwise is destroyed.
  server.on('request', (req, res) => {
    res.on('finish', () => {
      if (draining && !req.socket.inflight) req.socket.end();
    });
  });

  setTimeout(() => {
    if (draining) return;
    server.listen(PORT, () => {
      console.log(`cutover-test app ${VERSION} (MODE=${MODE}) listening on :${PORT} after ${BOOT_DELAY_MS} ms`);
    });
  }, BOOT_DELAY_MS);
}
