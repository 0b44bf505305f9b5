// A trivial, fast HTTP/1.1 backend for benchmarks: answers every request head (GET, no body) with
// a fixed 200 response on raw `net`. Usage: node bench/lib/fast-backend.ts PORT NAME
// Prints "ready PORT" once listening.

import net from 'node:net';

const port = Number(process.argv[2] ?? 0);
const name = process.argv[3] ?? 'backend';
const body = `hello from ${name}\n`;
const response = Buffer.from(
  `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
  'latin1',
);

function countHeads(buf: Buffer): number {
  let n = 0;
  let i = buf.indexOf('\r\n\r\n');
  while (i >= 0) {
    n++;
    i = buf.indexOf('\r\n\r\n', i + 4);
  }
  return n;
}

const server = net.createServer({ noDelay: true }, (socket) => {
  let tail: Buffer | null = null;
  socket.on('data', (chunk: Buffer) => {
    const buf = tail === null ? chunk : Buffer.concat([tail, chunk]);
    const n = countHeads(buf);
    const last = buf.lastIndexOf('\r\n\r\n');
    const rest = last < 0 ? buf : buf.subarray(last + 4);
    tail = rest.length > 0 ? Buffer.from(rest.subarray(Math.max(0, rest.length - 3))) : null;
    if (n === 1) socket.write(response);
    else if (n > 1) socket.write(Buffer.concat(new Array<Buffer>(n).fill(response)));
  });
  socket.on('error', () => {});
});
server.listen(port, '127.0.0.1', () => {
  const addr = server.address();
  console.log(`ready ${typeof addr === 'object' && addr !== null ? addr.port : port}`);
});
