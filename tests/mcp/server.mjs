// A real MCP server (@modelcontextprotocol/sdk: McpServer over its
// StreamableHTTPServerTransport, one transport per session, as the SDK's
// own examples run it) for the gateway to guard. Its tools:
//   get_balance      reads; returns the balance and the headers it came with
//   transfer_funds   writes (the gateway asks payments:write for it)
//   wait_for_signal  sends a progress notification on its SSE response,
//                    then waits until signal is called: it only returns if
//                    the notification reached the client while it waited
//   signal           ends the wait
// Every tool run is recorded with its session (GET /_calls, served beside
// /mcp, not behind the gateway), and every HTTP request to /mcp with its
// method and MCP headers (GET /_requests).
// Usage: node server.mjs <port>. Prints {"ready":true,"url":...} when ready.
import * as http from 'node:http';
import { randomUUID } from 'node:crypto';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

console.log = console.info = console.error;

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node server.mjs <port>');
  process.exit(2);
}

const calls = [];
const requests = [];
let release = null;
let signalled = new Promise((resolve) => { release = resolve; });

function newServer(sessionOf) {
  const server = new McpServer({ name: 'stepup-test-bank', version: '1.0.0' });
  const record = (tool, args, extra) => calls.push({ tool, args, session: sessionOf(), sub: extra.requestInfo?.headers['x-stepup-sub'] ?? '' });
  server.registerTool('get_balance', { description: 'Reads the balance of the account.', inputSchema: {} }, async (args, extra) => {
    record('get_balance', args, extra);
    const h = extra.requestInfo?.headers ?? {};
    return {
      content: [{ type: 'text', text: JSON.stringify({ balance: 1250, currency: 'EUR' }) }],
      structuredContent: { balance: 1250, seen: { 'x-stepup-sub': h['x-stepup-sub'] ?? '', 'mcp-protocol-version': h['mcp-protocol-version'] ?? '', 'mcp-session-id': h['mcp-session-id'] ?? '' } },
    };
  });
  server.registerTool('transfer_funds', {
    description: 'Sends money to an IBAN.',
    inputSchema: { amount: z.number().optional(), iban: z.string().optional() },
  }, async (args, extra) => {
    record('transfer_funds', args, extra);
    return { content: [{ type: 'text', text: `sent ${args.amount ?? 0} to ${args.iban ?? 'nobody'}` }] };
  });
  // Tools the gateway asks a fresher (rotate_keys: max_age) or stronger
  // (close_account: acr) login for.
  for (const name of ['rotate_keys', 'close_account']) {
    server.registerTool(name, { description: `Runs ${name}.`, inputSchema: {} }, async (args, extra) => {
      record(name, args, extra);
      return { content: [{ type: 'text', text: `${name} done` }] };
    });
  }
  server.registerTool('wait_for_signal', { description: 'Waits until signal is called.', inputSchema: {} }, async (args, extra) => {
    record('wait_for_signal', args, extra);
    const token = extra._meta?.progressToken;
    if (token !== undefined) {
      await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: 1, total: 2, message: 'waiting for signal' } });
    }
    await signalled;
    signalled = new Promise((resolve) => { release = resolve; });
    return { content: [{ type: 'text', text: 'signalled' }] };
  });
  server.registerTool('signal', { description: 'Ends the wait of wait_for_signal.', inputSchema: {} }, async (args, extra) => {
    record('signal', args, extra);
    release();
    return { content: [{ type: 'text', text: 'ok' }] };
  });
  return server;
}

const transports = new Map(); // session ID → transport

async function readJSON(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text;
}

async function handleMCP(req, res) {
  requests.push({ method: req.method, session: req.headers['mcp-session-id'] ?? '', protocol: req.headers['mcp-protocol-version'] ?? '', accept: req.headers.accept ?? '' });
  const sessionID = req.headers['mcp-session-id'];
  if (req.method !== 'POST') {
    const transport = sessionID && transports.get(sessionID);
    if (!transport) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('no such session');
      return;
    }
    await transport.handleRequest(req, res);
    return;
  }
  // The body is parsed here as JSON.parse reads it, the way the SDK's own
  // examples hand express.json()'s result to the transport.
  const raw = await readJSON(req);
  let body;
  try {
    body = JSON.parse(raw);
  } catch {
    res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null }));
    return;
  }
  let transport = sessionID && transports.get(sessionID);
  if (!transport) {
    if (sessionID || !isInitializeRequest(body)) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'no valid session' }, id: null }));
      return;
    }
    let id = '';
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sid) => { id = sid; transports.set(sid, transport); },
    });
    transport.onclose = () => { if (id) transports.delete(id); };
    await newServer(() => id).connect(transport);
  }
  await transport.handleRequest(req, res, body);
}

const server = http.createServer((req, res) => {
  const { pathname } = new URL(req.url, 'http://127.0.0.1');
  if (req.method === 'GET' && (pathname === '/_calls' || pathname === '/_requests')) {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(pathname === '/_calls' ? calls : requests));
    return;
  }
  if (pathname !== '/mcp') {
    res.writeHead(404).end();
    return;
  }
  handleMCP(req, res).catch((err) => {
    console.error('mcp request failed:', err);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end();
  });
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true, url: `http://127.0.0.1:${port}/mcp` })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
