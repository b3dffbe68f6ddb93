// The quick start's demo page: the seed's step-up App.jsx, written for
// @prelude.so/js-sdk 0.6.0 (startOTPLogin, checkOTP(code), otpCreate,
// otpCheck, otpRetry), talking to the caddy that serves this page, plus
// what the seed lacks: calling the legacy API behind the gateway, and
// passkeys (passkeys.js: enrolment after a step-up to prld:passkey:write,
// a step-up whose step is verify_passkey, passkey login), which the SDK
// 0.6.0 has no calls for.
import "@picocss/pico";
import { useEffect, useRef, useState } from "react";
import { PrldSessionClient, PrldErrors, decode } from "@prelude.so/js-sdk";
import { addPasskey, doPasskeyStep, finalizeLoginTicket, passkeyLogin, passkeysSupported } from "./passkeys.js";
import { AuthenticationEvent, PasskeyStep, WhereIsTheCode } from "./views.jsx";

// The session API is served by the same caddy site as this page
// (stepup_session), so the SDK's domain is the page's own host: same
// origin, no CORS, first-party cookies.
const client = new PrldSessionClient({ domain: location.host });

// ?oauth=<provider> offers a login through that OpenID provider (the
// gateway's `login oauth <provider>`, whose redirect_uris must list this
// page's URL with ?oauth=<provider>, exactly); the gateway sends the
// browser back here with ?challenge_token=..., which the SDK finalizes.
const params = new URLSearchParams(location.search);
const oauthProvider = params.get("oauth");
let ticketTaken = false; // a ticket is finalized once, however often the effect runs

// The scope whose step-up enrolment needs (Prelude's name); the gateway
// declares it by itself with one code step.
const passkeyWriteScope = "prld:passkey:write";

// The legacy API route each scope of Caddyfile.example opens, once per
// step-up (single-use grants). payment:confirm's step is the user's passkey.
const legacyAPIs = {
  "transfer:write": { id: "transfer", label: "Send transfer", path: "/api/transfers", body: { amount: "500", currency: "USD" } },
  "payment:confirm": { id: "payment", label: "Send payment", path: "/api/payments", body: { amount: "120", currency: "EUR", to: "ACME" } },
};

const claimsOf = (accessToken) => decode(accessToken).claims;

/** The message to show for an error of the SDK, the gateway or the browser. */
function describe(err) {
  if (err instanceof PrldErrors.BadCheckCode) return "Wrong code.";
  return err?.code && err.code !== err.message ? `${err.message} (${err.code})` : err?.message || String(err);
}

export default function App() {
  // login | code | logged | stepup-otp | stepup-passkey | done
  const [view, setView] = useState("login");
  const [phone, setPhone] = useState("");
  const [code, setCode] = useState("");
  const [stepUpCode, setStepUpCode] = useState("");
  const [challengeId, setChallengeId] = useState(null);
  const [passkeyStep, setPasskeyStep] = useState(null); // {token, scope, options} of a verify_passkey step
  const [user, setUser] = useState(null);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState(null);
  const [busy, setBusy] = useState(false);
  const [grantedScope, setGrantedScope] = useState(null);
  const [apiAnswer, setAPIAnswer] = useState(null); // {status, body} of the last legacy API call
  // The scope of the step-up under way, read by the SDK's onChallenge
  // callback, which outlives the render that made it.
  const stepUpScope = useRef(null);

  const fail = (err) => setError(describe(err));
  const clearMessages = () => {
    setError(null);
    setNotice(null);
  };

  // Back from the OpenID provider: finalize the login once, then drop the
  // ticket from the address bar.
  useEffect(() => {
    const ticket = params.get("challenge_token");
    const failed = params.get("error");
    if ((!ticket && !failed) || ticketTaken) return;
    ticketTaken = true;
    history.replaceState(null, "", oauthProvider ? `?oauth=${encodeURIComponent(oauthProvider)}` : location.pathname);
    if (failed) {
      setError(`The login did not complete: ${failed}.`);
      return;
    }
    client
      .finalizeOAuthLogin(ticket)
      .then(() => client.refresh())
      .then(({ user }) => {
        setUser(user);
        setView("logged");
      })
      .catch((err) => setError(err.message));
  }, []);

  const handleOAuthLogin = async () => {
    setError(null);
    try {
      await client.loginWithOAuth({ provider: oauthProvider, redirectURI: `${location.origin}${location.pathname}?oauth=${encodeURIComponent(oauthProvider)}` });
    } catch (err) {
      setError(err.message);
    }
  };

  // ── Login flow ──────────────────────────────────────────────

  const handleSendOTP = async (e) => {
    e.preventDefault();
    clearMessages();
    try {
      await client.startOTPLogin({ identifier: { type: "phone_number", value: phone } });
      setView("code");
    } catch (err) {
      fail(err);
    }
  };

  const handleCheckLogin = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      await client.checkOTP(code);
      const { user } = await client.refresh();
      setUser(user);
      setView("logged");
    } catch (err) {
      fail(err);
    }
  };

  // Passkey login: the browser offers this site's passkeys, the gateway
  // answers a login ticket, which /login/finalize turns into the SDK's
  // DPoP-bound session, as after any other login.
  const handlePasskeyLogin = async () => {
    clearMessages();
    setBusy(true);
    try {
      const ticket = await passkeyLogin();
      await finalizeLoginTicket(client, ticket);
      const { user } = await client.refresh();
      setUser(user);
      setView("logged");
    } catch (err) {
      fail(err);
    } finally {
      setBusy(false);
    }
  };

  const handleLogout = async () => {
    clearMessages();
    try {
      await client.logout();
    } catch (err) {
      fail(err);
    }
    setUser(null);
    setCode("");
    setStepUpCode("");
    setAPIAnswer(null);
    setView("login");
  };

  // ── Step-up flow ────────────────────────────────────────────

  // After the last step: enrol a passkey (prld:passkey:write), or show the
  // granted scope and its legacy API.
  const afterStepUp = async () => {
    const { user } = await client.refresh();
    setUser(user);
    if (stepUpScope.current === passkeyWriteScope) {
      await enrolPasskey(user);
      return;
    }
    setGrantedScope(stepUpScope.current);
    setAPIAnswer(null);
    setView("done");
  };

  const handleChallenge = (info) => {
    setChallengeId(info.challengeId);
    if (info.currentStep === "completed") {
      // The SDK has already redeemed the completed challenge (POST /refresh
      // with step_up_token); refresh() returns the new, scoped token.
      afterStepUp().catch(fail);
    } else if (info.currentStep === "verify_sms" || info.currentStep === "verify_email") {
      setView("stepup-otp");
      client.otpCreate({ challengeId: info.challengeId }).catch(fail);
    }
    // verify_passkey: its options come in the answer (showPasskeyStep).
  };

  // The answer that makes verify_passkey the current step carries the
  // WebAuthn request options for it (a user without a passkey is refused
  // before: passkey_step_unavailable).
  const showPasskeyStep = (answer) => {
    const options = answer?.public_key_credential_request_options;
    if (!options) return false;
    setPasskeyStep({ token: answer.challenge_token, scope: stepUpScope.current, options });
    setView("stepup-passkey");
    return true;
  };

  const startStepUp = async (scope) => {
    clearMessages();
    setStepUpCode("");
    stepUpScope.current = scope;
    try {
      const answer = await client.requestStepUp({ scope, onChallenge: handleChallenge });
      if (answer.status === "block") setError("Scope denied by hook.");
      else showPasskeyStep(answer);
    } catch (err) {
      fail(err);
    }
  };

  const handleCheckStepUp = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      showPasskeyStep(await client.otpCheck(challengeId, stepUpCode, handleChallenge));
    } catch (err) {
      fail(err);
    }
  };

  const handleResend = async () => {
    setError(null);
    try {
      await client.otpRetry();
    } catch (err) {
      fail(err);
    }
  };

  // The verify_passkey step: the browser asks for the passkey, the gateway
  // checks it and completes the challenge, which the SDK redeems with
  // refresh (after its cached, unscoped token is dropped).
  const handleUsePasskey = async () => {
    setError(null);
    setBusy(true);
    try {
      const { user } = await client.refresh();
      const next = await doPasskeyStep(user.accessToken, passkeyStep.token, passkeyStep.options);
      const { challenge_id: id, current_step: step } = decode(next.challenge_token).claims;
      if (step === "completed") {
        await client.invalidateCache();
        await client.refresh({ challenge: { token: next.challenge_token, id } });
        setPasskeyStep(null);
        await afterStepUp();
      } else if (!showPasskeyStep(next)) {
        setError(`The next step, ${step}, is not one this page does.`);
      }
    } catch (err) {
      fail(err);
    } finally {
      setBusy(false);
    }
  };

  // ── Passkeys ────────────────────────────────────────────────

  // Enrolment spends prld:passkey:write, granted by the step-up just done.
  const enrolPasskey = async (user) => {
    const name = phone || claimsOf(user.accessToken).sub;
    try {
      const { credential, already_registered } = await addPasskey(user.accessToken, {
        username: name,
        displayName: phone ? `Demo user ${phone}` : "Demo user",
        nickname: "This browser",
      });
      setNotice(already_registered ? "This passkey was registered already." : `Passkey added: ${credential.nickname ?? credential.credential_id}.`);
    } catch (err) {
      fail(err);
    }
    const { user: after } = await client.refresh();
    setUser(after);
    setView("logged");
  };

  // ── The legacy API behind the gateway ───────────────────────

  const handleCallAPI = async () => {
    setError(null);
    const target = legacyAPIs[grantedScope];
    try {
      const { user } = await client.refresh();
      const res = await fetch(target.path, {
        method: "POST",
        headers: { Authorization: `Bearer ${user.accessToken}`, "Content-Type": "application/json" },
        body: JSON.stringify(target.body),
      });
      const challenge = res.headers.get("WWW-Authenticate");
      const body = await res.text();
      setAPIAnswer({ status: res.status, body: challenge ? `WWW-Authenticate: ${challenge}\n${body}` : body });
    } catch (err) {
      fail(err);
    }
  };

  // ── Render ──────────────────────────────────────────────────

  const withPasskeys = passkeysSupported();
  const claims = user ? claimsOf(user.accessToken) : null;
  const api = legacyAPIs[grantedScope];

  return (
    <>
      <style>{`body, #root { display: flex; justify-content: center; align-items: center; min-height: 100vh; margin: 0; padding: 0; }`}</style>
      <main style={{ textAlign: "center", maxWidth: "600px", width: "100%" }}>
        <h1>Step-Up Demo</h1>
        {error && (
          <p role="alert" style={{ color: "var(--pico-color-red-500, #d93526)" }}>
            {error}
          </p>
        )}
        {notice && <p role="status">{notice}</p>}

        {view === "login" && (
          <form onSubmit={handleSendOTP}>
            <input type="tel" placeholder="+14155551234" value={phone} onChange={(e) => setPhone(e.target.value)} required />
            <button type="submit">Send OTP</button>
            <p>
              <small>Any phone number will do: the quick start prints each code in the terminal running caddy.</small>
            </p>
            {withPasskeys && (
              <button type="button" className="secondary" onClick={handlePasskeyLogin} disabled={busy}>
                Log in with a passkey
              </button>
            )}{" "}
            {oauthProvider && (
              <button type="button" className="secondary" onClick={handleOAuthLogin}>
                Log in with {oauthProvider}
              </button>
            )}
          </form>
        )}

        {view === "code" && (
          <form onSubmit={handleCheckLogin}>
            <input type="text" placeholder="Enter login code" value={code} onChange={(e) => setCode(e.target.value)} required />
            <button type="submit">Verify</button>
            <WhereIsTheCode />
          </form>
        )}

        {view === "logged" && (
          <article>
            <p>
              Logged in. Access token scopes: <code>{claims.scope || "none"}</code>
            </p>
            <AuthenticationEvent claims={claims} />
            <div style={{ display: "flex", flexWrap: "wrap", gap: "0.5rem", justifyContent: "center" }}>
              <button onClick={() => startStepUp("transfer:write")}>Request transfer:write scope</button>
              {withPasskeys && (
                <>
                  <button className="secondary" onClick={() => startStepUp(passkeyWriteScope)}>
                    Add a passkey
                  </button>
                  <button className="secondary" onClick={() => startStepUp("payment:confirm")}>
                    Confirm with passkey
                  </button>
                </>
              )}
              <button className="outline" onClick={handleLogout}>
                Log out
              </button>
            </div>
            {!withPasskeys && (
              <small>This browser cannot read the WebAuthn JSON forms (Chrome 129, Firefox 119 and Safari 18.4 can): no passkeys here.</small>
            )}
          </article>
        )}

        {view === "stepup-otp" && (
          <form onSubmit={handleCheckStepUp}>
            <p>Step-up: verify your phone number{stepUpScope.current === passkeyWriteScope && ", then add your passkey"}</p>
            <input type="text" placeholder="Enter step-up code" value={stepUpCode} onChange={(e) => setStepUpCode(e.target.value)} required />
            <button type="submit">Verify</button>
            <button type="button" className="secondary" onClick={handleResend}>
              Resend
            </button>
            <WhereIsTheCode />
          </form>
        )}

        {view === "stepup-passkey" && passkeyStep && (
          <PasskeyStep step={passkeyStep} busy={busy} onUse={handleUsePasskey} onCancel={() => setView("logged")} />
        )}

        {view === "done" && user && (
          <article>
            <p>Scope granted</p>
            <pre style={{ textAlign: "left", whiteSpace: "pre-wrap", wordBreak: "break-all" }}>{JSON.stringify(claims, null, 2)}</pre>
            {api && <button onClick={handleCallAPI}>{api.label}</button>}{" "}
            <button className="secondary" onClick={() => setView("logged")}>
              Back
            </button>
            {api && apiAnswer && (
              <section aria-label="Legacy API answer" style={{ textAlign: "left", marginTop: "1rem" }}>
                <p>
                  <code>POST {api.path}</code>: <strong data-testid={`${api.id}-status`}>HTTP {apiAnswer.status}</strong>
                </p>
                <pre style={{ whiteSpace: "pre-wrap", wordBreak: "break-all" }}>{apiAnswer.body}</pre>
              </section>
            )}
          </article>
        )}
      </main>
    </>
  );
}
