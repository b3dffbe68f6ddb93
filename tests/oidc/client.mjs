// A real OAuth client (oauth4webapi, and the dpop package for hand-made
// proofs): obtains a DPoP-bound access token from provider.mjs through the
// authorization-code flow with PKCE, filling in the login and consent pages
// like a user, then makes the calls it is given with it.
// Input: one JSON document as argv[2] or on stdin (see README.md).
// Output: one JSON line {"token","claims","results"} on stdout.
import * as oauth from 'oauth4webapi';
import * as dpop from 'dpop';

const insecure = { [oauth.allowInsecureRequests]: true }; // plain http on loopback

async function readInput() {
  if (process.argv[2]) return JSON.parse(process.argv[2]);
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return JSON.parse(text);
}

// Cookies by hand: one host, so names are enough; an expired or emptied
// cookie is dropped.
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

const decodeHTML = (s) => s.replace(/&#(\d+);/g, (_, code) => String.fromCharCode(Number(code)))
  .replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

// The first form of a page: its action and its inputs' names and values.
function parseForm(html, pageURL) {
  const form = /<form\b[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) throw new Error(`no form on ${pageURL}:\n${html}`);
  const fields = new URLSearchParams();
  for (const [input] of form[2].matchAll(/<input\b[^>]*>/gi)) {
    const name = /\bname="([^"]*)"/i.exec(input);
    const value = /\bvalue="([^"]*)"/i.exec(input);
    if (name) fields.set(decodeHTML(name[1]), value ? decodeHTML(value[1]) : '');
  }
  return { action: new URL(decodeHTML(form[1]), pageURL), fields };
}

// Follows the provider's redirects and pages from the authorization URL to
// the redirect back to redirectURI, submitting each form with the user's
// choices (login, acr, amr) filled in. Returns the callback URL.
async function authorizeAsUser(authorizationURL, redirectURI, choices) {
  const jar = new CookieJar();
  let request = { url: authorizationURL, init: { method: 'GET' } };
  for (let step = 0; step < 20; step++) {
    const response = await fetch(request.url, {
      ...request.init,
      redirect: 'manual',
      headers: { ...request.init.headers, cookie: jar.header() },
    });
    jar.store(response);
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      const next = new URL(location, request.url);
      if (next.href.startsWith(redirectURI)) return next;
      request = { url: next, init: { method: 'GET' } };
      continue;
    }
    const html = await response.text();
    if (response.status !== 200) throw new Error(`${request.url}: status ${response.status}:\n${html}`);
    const { action, fields } = parseForm(html, request.url);
    for (const [name, value] of Object.entries(choices)) {
      if (fields.has(name) && value !== undefined) fields.set(name, value);
    }
    request = {
      url: action,
      init: { method: 'POST', body: fields.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } },
    };
  }
  throw new Error('too many steps between the authorization request and the redirect back');
}

// RFC 9728 discovery from the resource alone: a first call without a
// credential (oauth4webapi's request, its Authorization header left off
// by the fetch it is given), oauth4webapi's parse of the 401's challenge,
// the metadata at its resource_metadata (same origin as the resource),
// checked by oauth4webapi against the resource identifier the client
// means to use, and its first authorization server.
async function discover(input) {
  const url = new URL(input.discover_from);
  const withoutCredential = (target, init) => {
    const headers = { ...init.headers };
    delete headers.authorization;
    return fetch(target, { ...init, headers });
  };
  let challenges;
  try {
    await oauth.protectedResourceRequest('none', 'GET', url, undefined, null, { ...insecure, [oauth.customFetch]: withoutCredential });
  } catch (err) {
    if (!(err instanceof oauth.WWWAuthenticateChallengeError)) throw err;
    challenges = err.cause;
  }
  const metadataURL = challenges?.[0]?.parameters?.resource_metadata;
  if (!metadataURL) throw new Error(`no resource_metadata in the challenge of ${url}: ${JSON.stringify(challenges)}`);
  if (new URL(metadataURL).origin !== url.origin) throw new Error(`resource_metadata ${metadataURL} is not on ${url.origin}`);
  const metadata = await oauth.processResourceDiscoveryResponse(new URL(input.resource), await fetch(metadataURL));
  const issuer = metadata.authorization_servers?.[0];
  if (!issuer) throw new Error(`no authorization server in ${JSON.stringify(metadata)}`);
  return { challenges, resource_metadata: metadataURL, metadata, issuer };
}

async function obtainToken(input, client, dpopHandle) {
  const issuer = new URL(input.issuer);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  const redirectURI = `${input.issuer}/cb`;

  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  // acr_values and max_age are OpenID Connect parameters: oidc-provider
  // rejects them without the openid scope.
  const oidcRequest = input.acr_values !== undefined || input.max_age !== undefined;
  const scope = oidcRequest && !input.scope.split(' ').includes('openid') ? `openid ${input.scope}` : input.scope;
  const authorizationURL = new URL(as.authorization_endpoint);
  const params = {
    client_id: client.client_id,
    redirect_uri: redirectURI,
    response_type: 'code',
    scope,
    resource: input.resource,
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    acr_values: input.acr_values,
    max_age: input.max_age === undefined ? undefined : String(input.max_age),
    authorization_details: input.authorization_details === undefined ? undefined : JSON.stringify(input.authorization_details),
  };
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) authorizationURL.searchParams.set(name, value);
  }

  const amr = Array.isArray(input.amr) ? input.amr.join(' ') : input.amr;
  const callbackURL = await authorizeAsUser(authorizationURL, redirectURI, {
    login: input.sub ?? 'alice',
    acr: input.acr,
    amr,
    auth_age: input.auth_age === undefined ? undefined : String(input.auth_age),
  });
  const callbackParams = oauth.validateAuthResponse(as, client, callbackURL, state);

  // The provider demands a DPoP nonce: the first request is answered with
  // use_dpop_nonce and the handle, now holding the nonce, is used again.
  const exchange = () => oauth.authorizationCodeGrantRequest(as, client, oauth.None(), callbackParams, redirectURI, codeVerifier, {
    DPoP: dpopHandle,
    additionalParameters: { resource: input.resource },
    ...insecure,
  }).then((response) => oauth.processAuthorizationCodeResponse(as, client, response, { maxAge: input.max_age }));
  try {
    return await exchange();
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err;
    return exchange();
  }
}

function decodePayload(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
}

// Hand-made proofs send the last nonce the same origin gave, if any, as a
// client would.
const noncesByOrigin = new Map();

function rememberNonce(url, response) {
  const nonce = response.headers.get('dpop-nonce');
  if (nonce) noncesByOrigin.set(new URL(url).origin, nonce);
}

// One entry of the output's results. challenges is oauth4webapi's own
// reading of WWW-Authenticate, when the library call raised one.
async function describe(name, url, response, retried, challenges) {
  rememberNonce(url, response);
  return {
    name,
    status: response.status,
    www_authenticate: response.headers.get('www-authenticate') ?? '',
    dpop_nonce: response.headers.get('dpop-nonce') ?? '',
    body: await response.text(),
    retried,
    challenges: challenges ?? [],
  };
}

// The DPoP calls through oauth4webapi, with its one documented retry when
// the resource server asks for a nonce.
async function libraryCall(call, token, dpopHandle) {
  const send = () => oauth.protectedResourceRequest(token, call.method, new URL(call.url), headers(call), call.body, {
    DPoP: dpopHandle,
    ...insecure,
  });
  const attempt = async (retried) => {
    try {
      return await describe(call.name, call.url, await send(), retried);
    } catch (err) {
      if (!retried && oauth.isDPoPNonceError(err)) {
        rememberNonce(call.url, err.response);
        return attempt(true);
      }
      if (err instanceof oauth.WWWAuthenticateChallengeError) return describe(call.name, call.url, err.response, retried, err.cause);
      throw err;
    }
  };
  return attempt(false);
}

function headers(call) {
  return call.contentType ? { 'content-type': call.contentType } : {};
}

async function handMadeCall(call, token, keyPair) {
  const url = new URL(call.url);
  const htu = `${url.origin}${url.pathname}`;
  const nonce = noncesByOrigin.get(url.origin);
  let proof;
  switch (call.as) {
    case 'dpop-replay':
      proof = await dpop.generateProof(keyPair, htu, call.method, nonce, token);
      break;
    case 'dpop-other-key':
      proof = await dpop.generateProof(await dpop.generateKeyPair('ES256'), htu, call.method, nonce, token);
      break;
    case 'dpop-no-ath':
      proof = await dpop.generateProof(keyPair, htu, call.method, nonce);
      break;
    case 'dpop-wrong-htu':
      proof = await dpop.generateProof(keyPair, `${url.origin}/somewhere-else`, call.method, nonce, token);
      break;
    case 'dpop-wrong-htm':
      proof = await dpop.generateProof(keyPair, htu, call.method === 'POST' ? 'PUT' : 'POST', nonce, token);
      break;
    default:
      throw new Error(`unknown call kind ${call.as}`);
  }
  const send = async () => fetch(url, {
    method: call.method,
    body: call.body,
    redirect: 'manual',
    headers: { ...headers(call), authorization: `DPoP ${token}`, dpop: proof },
  });
  if (call.as === 'dpop-replay') {
    const first = await describe(`${call.name}#1`, call.url, await send(), false);
    return [first, await describe(`${call.name}#2`, call.url, await send(), false)];
  }
  return [await describe(call.name, call.url, await send(), false)];
}

// The authorization_remediation of an insufficient_authorization
// challenge (draft-ietf-oauth-rar-metadata-remediation), decoded.
function remediationOf(result) {
  const params = result.challenges.find((c) => c.parameters.error === 'insufficient_authorization')?.parameters;
  if (!params?.authorization_remediation) return undefined;
  return JSON.parse(Buffer.from(params.authorization_remediation, 'base64url').toString());
}

async function makeCall(call, token, dpopHandle, keyPair, reauthorize) {
  call = { ...call, method: (call.method ?? 'GET').toUpperCase() };
  if (call.as === 'dpop' || call.as === undefined) {
    const result = await libraryCall(call, token, dpopHandle);
    const remediation = remediationOf(result);
    if (!remediation) return [result];
    result.remediation = remediation;
    if (!call.remediate) return [result];
    // As the draft says: a new authorization request with the details the
    // resource named, then the call again with the new token.
    const next = await reauthorize(remediation.authorization_details);
    const retried = await libraryCall({ ...call, name: `${call.name}#remediated` }, next.access_token, dpopHandle);
    retried.claims = decodePayload(next.access_token);
    return [result, retried];
  }
  if (call.as !== 'bearer') return handMadeCall(call, token, keyPair);
  const response = await fetch(call.url, {
    method: call.method,
    body: call.body,
    redirect: 'manual',
    headers: { ...headers(call), authorization: `Bearer ${token}` },
  });
  return [await describe(call.name, call.url, response, false)];
}

async function main() {
  const input = await readInput();
  const client = { client_id: input.clientId ?? 'stepup-test' }; // provider.mjs's client
  const keyPair = await oauth.generateKeyPair('ES256');
  const dpopHandle = oauth.DPoP(client, keyPair);
  let discovery;
  if (input.discover_from) {
    discovery = await discover(input);
    input.issuer = discovery.issuer;
  }
  const tokens = await obtainToken(input, client, dpopHandle);
  if (tokens.token_type.toLowerCase() !== 'dpop') throw new Error(`token_type is ${tokens.token_type}, not DPoP`);
  const token = tokens.access_token;
  const reauthorize = (details) => obtainToken({ ...input, authorization_details: details }, client, dpopHandle);
  const results = [];
  for (const call of input.calls ?? []) results.push(...await makeCall(call, token, dpopHandle, keyPair, reauthorize));
  process.stdout.write(`${JSON.stringify({ token, claims: decodePayload(token), results, discovery })}\n`);
}

main().catch((err) => {
  console.error(err);
  if (err?.cause) console.error('cause:', err.cause);
  process.exit(1);
});
