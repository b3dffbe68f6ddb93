// The gateway's passkey calls, made with fetch and navigator.credentials
// beside @prelude.so/js-sdk 0.6.0, which has none: enrolment
// (me/passkeys/register/begin|finish), a verify_passkey step of a step-up
// (stepup/continue with passkey_assertion) and passkey login
// (login/passkey/begin|finish). The bodies are those Prelude's mobile SDKs
// 0.7 send; the WebAuthn options and answers are the WebAuthn Level 3 JSON
// forms, which PublicKeyCredential converts.
import { decode } from "@prelude.so/js-sdk";
import { challengeProof } from "./dpop.js";
import { PasskeyError } from "./errors.js";

const api = "/v1/session";

/** Whether this browser converts the WebAuthn JSON forms itself (Chrome 129, Firefox 119, Safari 18.4). */
export function passkeysSupported() {
  return (
    typeof PublicKeyCredential !== "undefined" &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function" &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function"
  );
}

/** POSTs (or GETs) JSON to the session API and returns the JSON answer, or throws PasskeyError. */
async function call(path, { method = "POST", headers = {}, body } = {}) {
  const res = await fetch(`${api}${path}`, {
    method,
    headers: { Accept: "application/json", ...(body === undefined ? {} : { "Content-Type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const text = await res.text();
  let answer = null;
  try {
    answer = text ? JSON.parse(text) : null;
  } catch {
    // a non-JSON answer: reported by its status below
  }
  if (!res.ok) throw new PasskeyError(answer?.message || `HTTP ${res.status}`, answer?.code || `http_${res.status}`);
  return answer;
}

/** Runs a WebAuthn ceremony, saying in words why the browser refused one. */
async function ceremony(run) {
  try {
    const credential = await run();
    if (!credential) throw new PasskeyError("The browser returned no passkey.", "no_credential");
    return credential;
  } catch (err) {
    if (err instanceof PasskeyError) throw err;
    if (err?.name === "NotAllowedError") {
      throw new PasskeyError("The passkey prompt was closed, timed out, or found no passkey for this site.", "ceremony_not_allowed");
    }
    if (err?.name === "InvalidStateError") {
      throw new PasskeyError("This authenticator already holds a passkey for this account.", "already_registered");
    }
    throw new PasskeyError(`The browser refused the passkey ceremony: ${err?.message || err}`, "ceremony_failed");
  }
}

/**
 * Enrols a passkey for the logged-in user. The access token must carry
 * prld:passkey:write (a step-up just before); finishing spends it.
 * Returns {credential, already_registered}.
 */
export async function addPasskey(accessToken, { username, displayName, nickname }) {
  const auth = { Authorization: `Bearer ${accessToken}` };
  const begin = await call("/me/passkeys/register/begin", {
    headers: auth,
    body: { username, display_name: displayName, nickname },
  });
  const created = await ceremony(() =>
    navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(begin.public_key) }),
  );
  return call("/me/passkeys/register/finish", {
    headers: auth,
    body: { registration_token: begin.registration_token, attestation: created.toJSON() },
  });
}

/**
 * Does a verify_passkey step: the browser signs the step's options (from
 * the answer that made the step current), and stepup/continue takes the
 * assertion with the challenge token, under a DPoP proof bound to that
 * challenge (and the access token, as the web SDK sends it). Returns
 * {challenge_token, public_key_credential_request_options?}: the next
 * step's token, "completed" after the last one.
 */
export async function doPasskeyStep(accessToken, challengeToken, options) {
  const assertion = await ceremony(() =>
    navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) }),
  );
  const proof = await challengeProof(decode(challengeToken).claims.jti, `${location.origin}${api}/stepup/continue`);
  return call("/stepup/continue", {
    headers: { Authorization: `Bearer ${accessToken}`, DPoP: proof },
    body: { challenge_token: challengeToken, passkey_assertion: assertion.toJSON() },
  });
}

/**
 * Passkey login: no identifier is typed, the browser offers the passkeys it
 * holds for this site, the gateway finds the user from the one chosen.
 * Returns the login ticket (a challenge_token) for /login/finalize.
 */
export async function passkeyLogin() {
  const begin = await call("/login/passkey/begin", { body: {} });
  const assertion = await ceremony(() =>
    navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(begin.public_key) }),
  );
  const finished = await call("/login/passkey/finish", {
    body: { login_token: begin.login_token, assertion: assertion.toJSON() },
  });
  return finished.challenge_token;
}

/**
 * Turns a login ticket into the SDK's session: POST /login/finalize with a
 * DPoP proof of the SDK's session key, keeping the refresh token and the
 * access token where the SDK looks for them. The SDK 0.6.0 does exactly
 * this after a password login (finalizeLogin) but offers it publicly only
 * for OAuth tickets, with a PKCE verifier a passkey ticket does not have;
 * so its finalizeLogin is called by name (the SDK version is pinned).
 */
export async function finalizeLoginTicket(client, ticket) {
  if (typeof client.finalizeLogin !== "function") {
    throw new PasskeyError("This SDK version has no finalizeLogin: the page needs @prelude.so/js-sdk 0.6.0.", "sdk_mismatch");
  }
  await client.finalizeLogin(ticket);
}
