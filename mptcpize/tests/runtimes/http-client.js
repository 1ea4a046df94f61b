// An HTTP client for mptcpize's runtime tests (tests/runtimes.rs), on Node.js's own `http`:
//   node http-client.js URL OUT
// GETs URL into OUT, prints "fetched N", then keeps the (keep-alive) connection open until
// its stdin ends, so that it can be observed.
'use strict';
const fs = require('fs');
const http = require('http');

const [url, out] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true });
http.get(url, { agent }, (res) => {
  if (res.statusCode !== 200) {
    console.error(`GET ${url}: ${res.statusCode}`);
    process.exit(1);
  }
  const chunks = [];
  res.on('data', (chunk) => chunks.push(chunk));
  res.on('end', () => {
    const body = Buffer.concat(chunks);
    fs.writeFileSync(out, body);
    console.log(`fetched ${body.length}`);
    process.stdin.on('data', () => {});
    process.stdin.on('end', () => {
      agent.destroy();
      process.exit(0);
    });
  });
}).on('error', (e) => {
  console.error(`GET ${url}: ${e.message}`);
  process.exit(1);
});
