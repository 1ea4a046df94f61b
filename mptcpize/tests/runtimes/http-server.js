// An HTTP server for mptcpize's runtime tests (tests/runtimes.rs), on Node.js's own `http`:
//   node http-server.js PORT FILE
// serves FILE's bytes at /data on 127.0.0.1:PORT and prints "listening" once ready.
'use strict';
const fs = require('fs');
const http = require('http');

const [port, file] = process.argv.slice(2);
const data = fs.readFileSync(file);
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length });
  res.end(data);
});
// Idle keep-alive connections stay open (the default closes them after 5 s), so the test
// observes the connection at its own pace.
server.keepAliveTimeout = 0;
server.listen(Number(port), '127.0.0.1', () => console.log('listening'));
