// A real authorization server (panva's oidc-provider) as MCP clients meet
// it: open dynamic client registration (RFC 7591), the authorization code
// flow with PKCE, resource indicators (RFC 8707) whose access tokens are
// JWTs (typ at+jwt, ES256) with aud = the resource. The user is alice, who
// approves whatever is asked: the login and consent interactions finish
// as soon as they start, and each one is recorded (GET /_interactions).
// Usage: node provider.mjs <port>. Prints one JSON line when ready:
// {"ready":true,"issuer":...,"jwks_uri":...}.
import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

// stdout carries only the ready line.
console.log = console.info = console.error;

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node provider.mjs <port>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

// The scopes a resource server may be granted; the client asks for some.
const resourceScopes = 'mcp:tools payments:write files:read';

// Fresh keys each run: ES256 signs access tokens, RS256 (the default of
// registered clients) ID tokens.
function signingJwk(type, options, alg) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: `${alg.toLowerCase()}-${crypto.randomBytes(4).toString('hex')}` };
}
const jwks = { keys: [signingJwk('ec', { namedCurve: 'P-256' }, 'ES256'), signingJwk('rsa', { modulusLength: 2048 }, 'RS256')] };

const provider = new Provider(issuer, {
  jwks,
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // The token request may omit `resource`: the one authorized is used.
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => ({
        audience: resource,
        scope: resourceScopes,
        accessTokenFormat: 'jwt',
        accessTokenTTL: 600,
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: (ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  extraTokenClaims(ctx) {
    const code = ctx.oidc.entities.AuthorizationCode;
    return code ? { auth_time: code.authTime } : undefined;
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

// What each finished interaction was asked for: its prompt, scope and
// resource, in order.
const interactions = [];

async function interaction(req, res) {
  const { prompt, params, session, grantId } = await provider.interactionDetails(req, res);
  interactions.push({ prompt: prompt.name, scope: params.scope ?? '', resource: params.resource ?? '', client_id: params.client_id });
  if (prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId: 'alice' } }, { mergeWithLastSubmission: false });
    return;
  }
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const { details } = prompt;
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
}

// The SDK registers its client with the scope of the first challenge, and
// re-authorizes with more when a tool needs it. oidc-provider would hold a
// client to its registered scope (and refuses scopes it does not list as
// its own), so registrations reach it without one, as at the many
// authorization servers that do not bind a client to its registered scope.
async function withoutRegisteredScope(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  const metadata = JSON.parse(text);
  registrations.push({ scope: metadata.scope ?? '', redirect_uris: metadata.redirect_uris ?? [], token_endpoint_auth_method: metadata.token_endpoint_auth_method ?? '' });
  delete metadata.scope;
  req.body = metadata; // oidc-provider reads an already parsed body
}
const registrations = [];

const handleProvider = provider.callback();
const server = http.createServer(async (req, res) => {
  const { pathname } = new URL(req.url, issuer);
  if (pathname === '/reg' && req.method === 'POST') {
    try {
      await withoutRegisteredScope(req);
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`bad registration: ${err.message}`);
      return;
    }
  }
  if (pathname === '/_registrations') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(registrations));
    return;
  }
  if (pathname === '/_interactions') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(interactions));
    return;
  }
  if (!/^\/interaction\/[\w-]+$/.test(pathname)) {
    handleProvider(req, res);
    return;
  }
  interaction(req, res).catch((err) => {
    console.error('interaction failed:', err);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`interaction failed: ${err.message}`);
  });
});

server.listen(port, '127.0.0.1', async () => {
  try {
    const discovery = await fetch(`${issuer}/.well-known/openid-configuration`);
    const { jwks_uri: jwksURI } = await discovery.json();
    process.stdout.write(`${JSON.stringify({ ready: true, issuer, jwks_uri: jwksURI })}\n`);
  } catch (err) {
    console.error('discovery failed:', err);
    process.exit(1);
  }
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
