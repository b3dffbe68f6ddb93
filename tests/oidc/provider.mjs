// A real OpenID provider (panva's oidc-provider) for the gateway's tests:
// it issues DPoP-bound JWT access tokens (typ at+jwt, cnf.jkt) for any
// resource indicator, after a login and a consent page that client.mjs
// fills in like a user. Usage: node provider.mjs [port] (or OIDC_PORT).
// Prints one JSON line when ready: {"ready":true,"issuer":...,"jwks_uri":...}.
import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

// stdout carries only the ready line: oidc-provider prints its notices
// with console.info, so every console line goes to stderr.
console.log = console.info = console.error;

const port = Number(process.argv[2] || process.env.OIDC_PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node provider.mjs <port> (or OIDC_PORT)');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const clientId = 'stepup-test'; // client.mjs uses the same

// A confidential client for a gateway that logs its users in here (its
// OpenID Connect relying party): OIDC_GATEWAY_REDIRECT is its callback,
// OIDC_GATEWAY_SECRET its client secret.
const gatewayClient = process.env.OIDC_GATEWAY_REDIRECT
  ? [{
      client_id: 'stepup-gateway',
      client_secret: process.env.OIDC_GATEWAY_SECRET || 'gateway-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: process.env.OIDC_GATEWAY_REDIRECT.split(','),
    }]
  : [];

// What each account's login page said about it: email and phone number,
// given out as verified claims.
const accounts = new Map();
// Every resource server gets these scopes; the client asks for a subset.
const resourceScopes = 'payments:write transfer:read';
const accessTokenTTL = 600;

// Fresh keys each run. Both are in the JWKS so that a verifier has to pick
// the key by kid: ES256 signs access tokens, RS256 (the default) ID tokens.
function signingJwk(type, options, alg) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, alg, use: 'sig', kid: `${alg.toLowerCase()}-${crypto.randomBytes(4).toString('hex')}` };
}
const jwks = {
  keys: [
    signingJwk('ec', { namedCurve: 'P-256' }, 'ES256'),
    signingJwk('rsa', { modulusLength: 2048 }, 'RS256'),
  ],
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [`${issuer}/cb`],
    dpop_bound_access_tokens: true,
    authorization_details_types: ['payment_initiation'],
  }, ...gatewayClient],
  jwks,
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  pkce: { required: () => true },
  // Advertised as acr_values_supported; the login page reports the first
  // acr requested (or the one the client picks), listed here or not.
  acrValues: ['urn:stepup:loa:1', 'urn:stepup:loa:2'],
  features: {
    devInteractions: { enabled: false },
    // A nonce is required at the token endpoint so that the client's
    // use_dpop_nonce retry is exercised on every run.
    dPoP: { enabled: true, nonceSecret: crypto.randomBytes(32), requireNonce: () => true },
    // RFC 9396: the payment_initiation type of Open Banking and FAPI
    // 2.0's examples. What the client asks for is approved as it is (the
    // consent page approves everything), kept in the code and put in the
    // JWT access token's authorization_details.
    richAuthorizationRequests: {
      enabled: true,
      types: {
        payment_initiation: {
          validate(ctx, detail) {
            const { instructedAmount, creditorAccount, actions } = detail;
            const isString = (v) => typeof v === 'string' && v !== '';
            if (!instructedAmount || !isString(instructedAmount.amount) || !isString(instructedAmount.currency)) {
              throw new errors.InvalidAuthorizationDetails('payment_initiation needs instructedAmount.amount and .currency');
            }
            if (creditorAccount !== undefined && !isString(creditorAccount?.iban)) {
              throw new errors.InvalidAuthorizationDetails('creditorAccount needs an iban');
            }
            if (actions !== undefined && !(Array.isArray(actions) && actions.every(isString))) {
              throw new errors.InvalidAuthorizationDetails('actions is an array of strings');
            }
          },
        },
      },
      authorizationDetailsForGrantSource: (ctx) => ctx.oidc.grant.rar,
      authorizationDetailsForAccessToken: (ctx, token, source) => source?.rar,
      authorizationDetailsForIntrospection: (ctx, token) => token.rar,
    },
    resourceIndicators: {
      enabled: true,
      // The token request may omit `resource`: the one authorized is used.
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => ({
        audience: resource,
        scope: resourceScopes,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  ttl: { AccessToken: accessTokenTTL },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: (ctx, sub) => ({
    accountId: sub,
    claims: () => {
      const { email, phone } = accounts.get(sub) ?? {};
      return {
        sub,
        ...(email ? { email, email_verified: true } : {}),
        ...(phone ? { phone_number: phone, phone_number_verified: true } : {}),
      };
    },
  }),
  claims: {
    acr: null,
    amr: null,
    auth_time: null,
    iss: null,
    sid: null,
    // acr, amr and auth_time of the login go into every ID token.
    openid: ['sub', 'acr', 'amr', 'auth_time'],
    email: ['email', 'email_verified'],
    phone: ['phone_number', 'phone_number_verified'],
  },
  // The scopes' claims go into the ID token (the gateway reads no
  // userinfo).
  conformIdTokenClaims: false,
  // How the user logged in (chosen on the login page) goes into access
  // tokens too, as it does into ID tokens. The grant source is the code
  // (authorization_code grant) or the refresh token (refresh_token grant).
  extraTokenClaims(ctx) {
    const source = ctx.oidc.entities.AuthorizationCode ?? ctx.oidc.entities.RefreshToken;
    if (!source) return undefined;
    const claims = { auth_time: source.authTime, acr: source.acr, amr: source.amr };
    return Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined));
  },
});

const escapeHTML = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, title, action, fields) {
  const inputs = Object.entries(fields)
    .map(([name, value]) => `<label>${escapeHTML(name)} <input name="${escapeHTML(name)}" value="${escapeHTML(value)}"></label>`)
    .join('\n');
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><title>${title}</title><h1>${title}</h1>
<form method="post" action="${escapeHTML(action)}">
${inputs}
<button type="submit">Continue</button>
</form>`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

// The login and consent pages, in place of oidc-provider's dev
// interactions, so that the login can choose the account, acr and amr.
async function interaction(req, res, uid) {
  const { prompt, params, session, grantId } = await provider.interactionDetails(req, res);
  const action = `/interaction/${uid}`;
  if (req.method === 'GET') {
    if (prompt.name === 'login') {
      const requestedAcr = params.acr_values ? params.acr_values.split(' ')[0] : '';
      page(res, 'Sign-in', action, { prompt: 'login', login: 'alice', acr: requestedAcr, amr: 'pwd', auth_age: '0', email: '', phone: '' });
    } else {
      page(res, 'Authorize', action, { prompt: 'consent' });
    }
    return;
  }
  const form = await readForm(req);
  if (form.get('prompt') !== prompt.name) throw new Error(`expected the ${prompt.name} form`);
  if (prompt.name === 'login') {
    const login = { accountId: form.get('login') || 'alice' };
    accounts.set(login.accountId, { email: form.get('email') || '', phone: form.get('phone') || '' });
    if (form.get('acr')) login.acr = form.get('acr');
    if (form.get('amr')) login.amr = form.get('amr').split(' ');
    // auth_age: the user says they signed in that many seconds ago
    // (oidc-provider's login ts, which becomes auth_time).
    const age = Number(form.get('auth_age') || 0);
    if (age > 0) login.ts = Math.floor(Date.now() / 1000) - age;
    await provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
    return;
  }
  // Consent grants whatever was asked for, as oidc-provider's dev
  // interactions do.
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const { details } = prompt;
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  for (const detail of details.rar ?? []) grant.addRar(detail);
  await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
}

const handleProvider = provider.callback();
const server = http.createServer((req, res) => {
  const match = /^\/interaction\/([\w-]+)$/.exec(new URL(req.url, issuer).pathname);
  if (!match) {
    handleProvider(req, res);
    return;
  }
  interaction(req, res, match[1]).catch((err) => {
    console.error('interaction failed:', err);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`interaction failed: ${err.message}`);
  });
});

// Ready once discovery answers; its jwks_uri is the one clients will use.
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
