'use strict'
// The aedes broker that tests/common/brokers.rs starts: `node server.js CONFIG.json`, where the
// JSON file names everything (tests/common/brokers.rs writes it):
//   { "host": "127.0.0.1", "port": 1883, "tls_port": 8883, "ws_port": 8080, "wss_port": 8081,
//     "cert": "/path/cert.pem", "key": "/path/key.pem",
//     "users": { "alice": { "password": "...", "publish": ["a/#"], "subscribe": ["a/+"] } } }
// Every port but `port` is optional; the TLS ones need `cert` and `key`. Users authenticate with
// aedes's authenticate hook (a refusal is aedes's own CONNACK 5), and may publish and subscribe
// only to topics matching their filters (aedes closes the connection on a denied PUBLISH and
// answers a denied SUBSCRIBE with 0x80). One line of log per event goes to stdout; "ready" once
// every listener is bound, which is how the tests know the broker is up.

const fs = require('fs')
const net = require('net')
const tls = require('tls')
const http = require('http')
const https = require('https')
// Resolved through NODE_PATH: the tests point it at target/test-deps/aedes/node_modules.
const Aedes = require('aedes')

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
const users = config.users || {}
const log = (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`)

// Whether `topic` (a topic name or, for SUBSCRIBE, a filter) falls under `filter`.
function matches (filter, topic) {
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true
    if (i >= t.length) return false
    if (f[i] === '+') {
      if (t[i] === '#') return false
      continue
    }
    if (f[i] !== t[i]) return false
  }
  return f.length === t.length
}

function allowed (client, list, topic) {
  const user = client && users[client.user]
  return !!user && (user[list] || []).some((filter) => matches(filter, topic))
}

const aedes = Aedes()

aedes.authenticate = (client, username, password, callback) => {
  const user = username === undefined ? undefined : users[username]
  const ok = !!user && password !== undefined && password.toString('utf8') === user.password
  if (ok) {
    client.user = username
  } else {
    log(`authentication failed for client ${client.id} user ${username === undefined ? '(none)' : username}`)
  }
  callback(null, ok)
}

aedes.authorizePublish = (client, packet, callback) => {
  if (packet.topic.startsWith('$SYS/') || !allowed(client, 'publish', packet.topic)) {
    log(`publish denied for client ${client && client.id} on ${packet.topic}`)
    return callback(new Error(`publish to ${packet.topic} denied`))
  }
  callback(null)
}

aedes.authorizeSubscribe = (client, sub, callback) => {
  if (!allowed(client, 'subscribe', sub.topic)) {
    log(`subscribe denied for client ${client.id} on ${sub.topic}`)
    return callback(null, null)
  }
  callback(null, sub)
}

aedes.on('client', (client) => log(`client connected ${client.id}`))
aedes.on('clientDisconnect', (client) => log(`client disconnected ${client.id}`))
aedes.on('clientError', (client, err) => log(`client error ${client.id}: ${err.message}`))
aedes.on('connectionError', (client, err) => log(`connection error ${client.id}: ${err.message}`))

const host = config.host || '127.0.0.1'
const servers = []
const listening = []

function listen (name, server, port) {
  servers.push(server)
  listening.push(new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      log(`listening ${name} on ${host}:${server.address().port}`)
      resolve()
    })
  }))
}

function tlsOptions () {
  return { cert: fs.readFileSync(config.cert), key: fs.readFileSync(config.key) }
}

// MQTT over WebSocket: the upgrade on any path, subprotocol `mqtt` as the spec asks.
function websocket (server) {
  const { WebSocketServer, createWebSocketStream } = require('ws')
  const wss = new WebSocketServer({
    server,
    handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false)
  })
  wss.on('connection', (ws) => aedes.handle(createWebSocketStream(ws)))
  return server
}

listen('mqtt', net.createServer(aedes.handle), config.port)
if (config.tls_port !== undefined) listen('mqtts', tls.createServer(tlsOptions(), aedes.handle), config.tls_port)
if (config.ws_port !== undefined) listen('ws', websocket(http.createServer()), config.ws_port)
if (config.wss_port !== undefined) listen('wss', websocket(https.createServer(tlsOptions())), config.wss_port)

Promise.all(listening).then(
  () => log('ready'),
  (err) => {
    log(`cannot listen: ${err.message}`)
    process.exit(1)
  }
)
