// The DPoP proof a step's stepup/continue needs (RFC 9449, as the web SDK
// makes its challenge-bound proofs): signed with the session's key, its
// jti the challenge token's jti, no nonce. The SDK 0.6.0 keeps that key in
// IndexedDB database "prld", store "dpop_keys", record {domain,
// privateKey, publicKey, nonce} under the domain it was built with (here
// location.host); the private key cannot be exported, only used to sign.
import { PasskeyError } from "./errors.js";

/** The SDK's DPoP key record for domain, or a PasskeyError when there is none (not logged in). */
function sessionKey(domain) {
  return new Promise((resolve, reject) => {
    const none = () => reject(new PasskeyError("This browser holds no session key: log in first.", "no_session_key"));
    const open = indexedDB.open("prld");
    // No database yet: leave none behind (the SDK creates its own).
    open.onupgradeneeded = () => open.transaction.abort();
    open.onerror = none;
    open.onsuccess = () => {
      const db = open.result;
      if (!db.objectStoreNames.contains("dpop_keys")) {
        db.close();
        none();
        return;
      }
      const get = db.transaction("dpop_keys").objectStore("dpop_keys").get(domain);
      get.onsuccess = () => {
        db.close();
        if (get.result?.privateKey && get.result?.publicKey) resolve(get.result);
        else none();
      };
      get.onerror = () => {
        db.close();
        none();
      };
    };
  });
}

function base64url(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const encodeJSON = (value) => base64url(new TextEncoder().encode(JSON.stringify(value)));

/** A proof for POST htu bound to the challenge whose token's jti is jti. */
export async function challengeProof(jti, htu) {
  if (!jti) throw new PasskeyError("The challenge token has no jti.", "invalid_challenge_token");
  const key = await sessionKey(location.host);
  const jwk = await crypto.subtle.exportKey("jwk", key.publicKey);
  const header = { typ: "dpop+jwt", alg: "ES256", jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } };
  const payload = { jti, htm: "POST", htu, iat: Math.floor(Date.now() / 1000) };
  const input = `${encodeJSON(header)}.${encodeJSON(payload)}`;
  // WebCrypto's ECDSA signature is already JWS's r||s (IEEE P1363).
  const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key.privateKey, new TextEncoder().encode(input));
  return `${input}.${base64url(new Uint8Array(signature))}`;
}
