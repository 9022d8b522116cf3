// The upper bound for any Node proxy: bytes in, bytes out, nothing parsed.
// Usage: node --import tsx bench/raw-pipe.ts --listen HOST:PORT --upstream HOST:PORT
import net from 'node:net';

const arg = (name: string): [string, number] => {
  const v = process.argv[process.argv.indexOf(name) + 1] ?? '';
  const i = v.lastIndexOf(':');
  return [v.slice(0, i), Number(v.slice(i + 1))];
};
const [[lhost, lport], [uhost, uport]] = [arg('--listen'), arg('--upstream')];

// noDelay on both legs: a proxy must not let Nagle hold back the second half of a reply.
net.createServer({ noDelay: true }, (client) => {
  const server = net.connect({ host: uhost, port: uport, noDelay: true });
  const close = () => { client.destroy(); server.destroy(); };
  client.on('error', close).on('close', close);
  server.on('error', close).on('close', close);
  client.pipe(server);
  server.pipe(client);
}).listen(lport, lhost);
