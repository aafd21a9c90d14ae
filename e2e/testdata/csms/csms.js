'use strict';
// A strict OCPP-J 1.6 central system for parkgrid's e2e tests.
//
// ocpp-rpc with strictMode: true validates every message in both
// directions against the official OCPP 1.6J JSON schemas. A message that
// fails is reported as {"ev":"violation",...}; the Go test fails on one.
//
// Control: JSON lines. Out (stdout), one event per line:
//   {"ev":"listening","port":N}
//   {"ev":"connect","identity":I} / {"ev":"disconnect","identity":I}
//   {"ev":"rejected","identity":I,"why":...}  (bad password, subprotocol)
//   {"ev":"call","identity":I,"n":K,"method":M,"params":P}  every call from a point, numbered
//   {"ev":"reply","id":X,"result":R} | {"ev":"reply","id":X,"error":{code,message}}
//   {"ev":"callerror","identity":I,"uid":U,"code":C,"description":D}  a CALLERROR from a point
//   {"ev":"violation","identity":I,...}
// In (stdin), one command per line:
//   {"id":X,"cmd":"call","identity":I,"method":M,"params":P}   a strict call to the point
//   {"id":X,"cmd":"raw","identity":I,"message":"…"}             raw text (malformed calls)
//   {"id":X,"cmd":"down"}  drop every connection and refuse new ones (unreachable)
//   {"id":X,"cmd":"up"}    accept connections again
//   {"id":X,"cmd":"boot","status":"Pending"|"Accepted"|"Rejected","interval":S}
// Passwords: env CSMS_PASSWORDS = {"identity":"password",...}; a point
// that connects without its password is refused (401).

const http = require('http');
const readline = require('readline');
const { RPCServer } = require('ocpp-rpc');

const passwords = JSON.parse(process.env.CSMS_PASSWORDS || '{}');
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

let up = true;
let bootStatus = 'Accepted';
let bootInterval = 1;
let heartbeatInterval = Number(process.env.CSMS_HEARTBEAT || 60);
let nextTx = 1000;
let callNo = 0;
const clients = new Map();
const rawIds = new Set(); // message ids of raw calls

const server = new RPCServer({ protocols: ['ocpp1.6'], strictMode: true, callTimeoutMs: 10000 });

server.auth((accept, reject, handshake) => {
  const want = passwords[handshake.identity];
  const got = handshake.password ? handshake.password.toString('utf8') : undefined;
  if (!up) {
    reject(503, 'down');
    return;
  }
  if (want === undefined || got !== want) {
    out({ ev: 'rejected', identity: handshake.identity, why: got === undefined ? 'no password' : 'wrong password' });
    reject(401, 'bad credentials');
    return;
  }
  if (!handshake.protocols.has('ocpp1.6')) {
    out({ ev: 'rejected', identity: handshake.identity, why: 'no ocpp1.6 subprotocol' });
    reject(400, 'ocpp1.6 required');
    return;
  }
  accept({ identity: handshake.identity }, 'ocpp1.6');
});

server.on('client', (client) => {
  const identity = client.identity;
  clients.set(identity, client);
  out({ ev: 'connect', identity, protocol: client.protocol });

  client.on('strictValidationFailure', (e) => {
    out({ ev: 'violation', identity, method: e.method, outbound: e.outbound, isCall: e.isCall,
      error: String(e.error && e.error.message), params: e.params, result: e.result });
  });
  client.on('badMessage', (e) => {
    // The answer to a raw call (sendRaw) is unknown to ocpp-rpc, which
    // reports it as a bad message: it is reported as 'callerror' above.
    let m;
    try { m = JSON.parse(String(e.buffer)); } catch (_) { m = null; }
    if (Array.isArray(m) && (m[0] === 3 || m[0] === 4) && rawIds.has(m[1])) return;
    out({ ev: 'violation', identity, bad: String(e.buffer), error: String(e.error && e.error.message) });
  });
  client.on('message', ({ message, outbound }) => {
    if (outbound) return;
    let m;
    try { m = JSON.parse(String(message)); } catch (_) { return; }
    if (Array.isArray(m) && m[0] === 4) {
      out({ ev: 'callerror', identity, uid: m[1], code: m[2], description: m[3] });
    }
  });
  client.on('close', () => {
    if (clients.get(identity) === client) clients.delete(identity);
    out({ ev: 'disconnect', identity });
  });

  const note = (method) => ({ params }) => {
    out({ ev: 'call', identity, n: ++callNo, method, params });
  };
  const now = () => new Date().toISOString();
  client.handle('BootNotification', (c) => {
    note('BootNotification')(c);
    return { status: bootStatus, currentTime: now(), interval: bootStatus === 'Accepted' ? heartbeatInterval : bootInterval };
  });
  client.handle('Heartbeat', (c) => { note('Heartbeat')(c); return { currentTime: now() }; });
  client.handle('StatusNotification', (c) => { note('StatusNotification')(c); return {}; });
  client.handle('Authorize', (c) => { note('Authorize')(c); return { idTagInfo: { status: 'Accepted' } }; });
  client.handle('StartTransaction', (c) => {
    note('StartTransaction')(c);
    return { transactionId: ++nextTx, idTagInfo: { status: 'Accepted' } };
  });
  client.handle('StopTransaction', (c) => { note('StopTransaction')(c); return { idTagInfo: { status: 'Accepted' } }; });
  client.handle('MeterValues', (c) => { note('MeterValues')(c); return {}; });
  client.handle('DataTransfer', (c) => { note('DataTransfer')(c); return { status: 'UnknownVendorId' }; });
  client.handle(({ method, params }) => {
    out({ ev: 'call', identity, n: ++callNo, method, params, unhandled: true });
    const { createRPCError } = require('ocpp-rpc');
    throw createRPCError('NotImplemented');
  });
});

const httpServer = http.createServer((req, res) => { res.writeHead(404); res.end(); });
httpServer.on('upgrade', (req, socket, head) => {
  if (!up) {
    socket.destroy();
    return;
  }
  server.handleUpgrade(req, socket, head);
});
httpServer.listen(Number(process.env.CSMS_PORT || 0), '127.0.0.1', () => {
  out({ ev: 'listening', port: httpServer.address().port });
});

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  let cmd;
  try { cmd = JSON.parse(line); } catch (e) { out({ ev: 'reply', id: null, error: { code: 'BadCommand', message: String(e) } }); return; }
  const reply = (o) => out(Object.assign({ ev: 'reply', id: cmd.id }, o));
  try {
    switch (cmd.cmd) {
      case 'call': {
        const c = clients.get(cmd.identity);
        if (!c) { reply({ error: { code: 'NotConnected', message: cmd.identity } }); return; }
        const result = await c.call(cmd.method, cmd.params || {});
        reply({ result });
        return;
      }
      case 'raw': {
        const c = clients.get(cmd.identity);
        if (!c) { reply({ error: { code: 'NotConnected', message: cmd.identity } }); return; }
        try { const m = JSON.parse(cmd.message); if (Array.isArray(m)) rawIds.add(m[1]); } catch (_) { /* not JSON: no id */ }
        c.sendRaw(cmd.message);
        reply({ result: {} });
        return;
      }
      case 'down':
        up = false;
        for (const c of clients.values()) c.close({ force: true, code: 1001 });
        reply({ result: {} });
        return;
      case 'up':
        up = true;
        reply({ result: {} });
        return;
      case 'boot':
        bootStatus = cmd.status || 'Accepted';
        bootInterval = cmd.interval || 1;
        reply({ result: {} });
        return;
      default:
        reply({ error: { code: 'BadCommand', message: String(cmd.cmd) } });
    }
  } catch (e) {
    reply({ error: { code: e.rpcErrorCode || e.name || 'Error', message: String(e.message) } });
  }
});
rl.on('close', () => { process.exit(0); });
