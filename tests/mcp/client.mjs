// A real MCP client (@modelcontextprotocol/sdk: Client over its
// StreamableHTTPClientTransport with an OAuthClientProvider) that starts
// from nothing but the MCP server's URL behind the gateway. The provider
// here does what an MCP host does around the SDK: keeps what the SDK gives
// it in memory, and plays the user's browser at the authorization server
// (follows its redirects with cookies until the redirect back to the
// client, and keeps the code). Everything else is the SDK's own: the 401,
// RFC 9728 discovery, dynamic registration, PKCE, `resource`, the 403
// insufficient_scope and its re-authorization with the challenge's scope.
//
// Input (argv[2]): {"url": "<MCP URL>", "other_resource": "<URL>"}.
// Output: one JSON line {"steps": {...}, "exchanges": [...], "authorizations": [...], "tokens": {...}}.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { auth, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const input = JSON.parse(process.argv[2]);
const serverURL = new URL(input.url);

// Every HTTP exchange the SDK makes, in order, with what the checks need.
const exchanges = [];
async function loggingFetch(url, init = {}) {
  const response = await fetch(url, init);
  const headers = new Headers(init.headers);
  let message = '';
  if (String(url) === serverURL.href && typeof init.body === 'string') {
    try {
      const m = JSON.parse(init.body);
      message = m.method ? (m.method === 'tools/call' ? `tools/call ${m.params?.name}` : m.method) : 'response';
    } catch { /* not JSON-RPC */ }
  }
  exchanges.push({
    method: init.method ?? 'GET',
    url: String(url),
    message,
    authorization: headers.has('authorization'),
    request_session: headers.get('mcp-session-id') ?? '',
    request_protocol_version: headers.get('mcp-protocol-version') ?? '',
    status: response.status,
    content_type: response.headers.get('content-type') ?? '',
    www_authenticate: response.headers.get('www-authenticate') ?? '',
    response_session: response.headers.get('mcp-session-id') ?? '',
  });
  return response;
}

// Each authorization request the SDK sent the user to, and its outcome.
const authorizations = [];

class CookieJar {
  #cookies = new Map();

  store(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now());
      if (!value || expired) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header() {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

// The user's browser: from the authorization URL, redirect after redirect
// (the provider's login and consent finish by themselves), to the redirect
// back to the client, whose code it returns.
async function browse(authorizationURL, redirectURL, jar) {
  let url = new URL(authorizationURL);
  for (let hops = 0; hops < 20; hops++) {
    if (url.origin === redirectURL.origin && url.pathname === redirectURL.pathname) {
      const error = url.searchParams.get('error');
      if (error) throw new Error(`authorization refused: ${error} ${url.searchParams.get('error_description') ?? ''}`);
      return url.searchParams.get('code');
    }
    const response = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } });
    jar.store(response);
    const location = response.headers.get('location');
    if (!location) throw new Error(`${url}: ${response.status} without a redirect: ${await response.text()}`);
    await response.body?.cancel();
    url = new URL(location, url);
  }
  throw new Error('too many redirects');
}

// An MCP host's OAuthClientProvider, in memory.
class HostProvider {
  constructor(name, resourceOverride) {
    this.name = name;
    this.redirectUrl = 'http://127.0.0.1:9/callback';
    this.jar = new CookieJar();
    this.code = undefined;
    this._client = undefined;
    this._tokens = undefined;
    this._verifier = undefined;
    if (resourceOverride) {
      // A host that asks for a token for another resource than the server's.
      this.validateResourceURL = async () => new URL(resourceOverride);
    }
  }

  get clientMetadata() {
    return {
      client_name: 'caddy-stepup MCP test host',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  clientInformation() { return this._client; }
  saveClientInformation(info) { this._client = info; }
  tokens() { return this._tokens; }
  saveTokens(tokens) { this._tokens = tokens; }
  saveCodeVerifier(verifier) { this._verifier = verifier; }
  codeVerifier() { return this._verifier; }

  async redirectToAuthorization(url) {
    const p = url.searchParams;
    const record = {
      provider: this.name,
      authorization_endpoint: url.origin + url.pathname,
      client_id: p.get('client_id'),
      scope: p.get('scope') ?? '',
      resource: p.get('resource') ?? '',
      code_challenge_method: p.get('code_challenge_method') ?? '',
      max_age: p.get('max_age'),
      acr_values: p.get('acr_values'),
      prompt: p.get('prompt'),
    };
    authorizations.push(record);
    this.code = await browse(url, new URL(this.redirectUrl), this.jar);
  }

  takeCode() {
    const code = this.code;
    this.code = undefined;
    if (!code) throw new Error('no authorization code');
    return code;
  }
}

const steps = {};
const newClient = () => new Client({ name: 'caddy-stepup-mcp-test', version: '1.0.0' });

// Connects as an MCP host does: the first attempt meets the 401 and sends
// the user to authorize; the code is exchanged with finishAuth, and the
// host connects again with a new transport.
async function connect(provider) {
  let transport = new StreamableHTTPClientTransport(serverURL, { authProvider: provider, fetch: loggingFetch });
  let client = newClient();
  try {
    await client.connect(transport);
    return { client, transport, authorizedFirst: false };
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
    await transport.finishAuth(provider.takeCode());
    await transport.close();
  }
  transport = new StreamableHTTPClientTransport(serverURL, { authProvider: provider, fetch: loggingFetch });
  client = newClient();
  await client.connect(transport);
  return { client, transport, authorizedFirst: true };
}

const text = (result) => result.content?.map((c) => c.text).join('') ?? '';

async function main() {
  const host = new HostProvider('host');
  const { client, transport, authorizedFirst } = await connect(host);
  steps.connected = { authorized_first: authorizedFirst, session: transport.sessionId ?? '' };
  const firstToken = host.tokens().access_token;

  const listed = await client.listTools();
  steps.tools = listed.tools.map((t) => t.name).sort();

  const balance = await client.callTool({ name: 'get_balance', arguments: {} });
  steps.get_balance = { text: text(balance), seen: balance.structuredContent?.seen ?? {} };

  // The write tool: the SDK meets the 403, re-authorizes with the
  // challenge's scope and throws UnauthorizedError for the host to finish;
  // the host then calls the tool again, once.
  try {
    const result = await client.callTool({ name: 'transfer_funds', arguments: { amount: 500, iban: 'DE02100100109307118603' } });
    steps.transfer_first = { passed: true, text: text(result) };
  } catch (err) {
    steps.transfer_first = { passed: false, error: err.constructor.name };
    if (!(err instanceof UnauthorizedError)) throw err;
    await transport.finishAuth(host.takeCode());
    const result = await client.callTool({ name: 'transfer_funds', arguments: { amount: 500, iban: 'DE02100100109307118603' } });
    steps.transfer_after_reauthorization = { text: text(result), session: transport.sessionId ?? '' };
  }
  const secondToken = host.tokens().access_token;

  // A tool's SSE response streamed: wait_for_signal returns only after the
  // client, told by its progress notification, has called signal.
  let progress = 0;
  let signalCall;
  const waited = await client.callTool({ name: 'wait_for_signal', arguments: {} }, undefined, {
    timeout: 60_000,
    onprogress: () => {
      progress++;
      signalCall ??= client.callTool({ name: 'signal', arguments: {} });
    },
  });
  await signalCall;
  steps.streamed = { text: text(waited), progress_notifications: progress };

  // The session ends with the transport's DELETE.
  await transport.terminateSession();
  steps.terminated = { session: transport.sessionId ?? '' };
  await client.close();

  // A host that gets a token for another resource: the SDK's own auth flow,
  // then the token sent to the MCP server.
  const other = new HostProvider('other', input.other_resource);
  if ((await auth(other, { serverUrl: serverURL, fetchFn: loggingFetch })) !== 'REDIRECT') throw new Error('expected a redirect');
  if ((await auth(other, { serverUrl: serverURL, authorizationCode: other.takeCode(), fetchFn: loggingFetch })) !== 'AUTHORIZED') throw new Error('not authorized');
  const otherToken = other.tokens().access_token;
  const refused = await fetch(serverURL, {
    method: 'POST',
    headers: { authorization: `Bearer ${otherToken}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'other', version: '1' } } }),
  });
  steps.other_resource = { status: refused.status, www_authenticate: refused.headers.get('www-authenticate') ?? '' };
  await refused.body?.cancel();

  // Tools that need a fresher (max_age) or stronger (acr) login, RFC 9470:
  // the SDK meets the 401 insufficient_user_authentication, re-authorizes
  // as it does on any 401 and throws UnauthorizedError; the host finishes
  // that authorization and calls the tool once more, as for the 403.
  const fresh = new HostProvider('fresh');
  const session = await connect(fresh);
  await new Promise((resolve) => setTimeout(resolve, 2200)); // the login is now older than rotate_keys' max_age (1 s)
  steps.authentication = {};
  for (const name of ['rotate_keys', 'close_account']) {
    const outcome = {};
    for (const attempt of ['first', 'after_reauthorization']) {
      try {
        const result = await session.client.callTool({ name, arguments: {} });
        outcome[attempt] = { passed: true, text: text(result) };
        break;
      } catch (err) {
        outcome[attempt] = { passed: false, error: err.constructor.name, message: String(err.message ?? '') };
        if (!(err instanceof UnauthorizedError)) break;
        await session.transport.finishAuth(fresh.takeCode());
      }
    }
    steps.authentication[name] = outcome;
  }
  await session.client.close();

  return { first: firstToken, upscoped: secondToken, other: otherToken };
}

main().then((tokens) => {
  process.stdout.write(`${JSON.stringify({ steps, exchanges, authorizations, tokens })}\n`);
  process.exit(0);
}, (err) => {
  console.error(err);
  process.stdout.write(`${JSON.stringify({ error: String(err?.stack ?? err), steps, exchanges, authorizations })}\n`);
  process.exit(1);
});
