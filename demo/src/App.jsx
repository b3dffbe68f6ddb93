// The quick start's demo page: the seed's step-up App.jsx, written for
// @prelude.so/js-sdk 0.6.0 (startOTPLogin, checkOTP(code), otpCreate,
// otpCheck, otpRetry), talking to the caddy that serves this page, plus one
// step the seed lacks: calling the legacy API behind the gateway.
import "@picocss/pico";
import { useEffect, useState } from "react";
import { PrldSessionClient, PrldErrors, decode } from "@prelude.so/js-sdk";

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

// The log sender writes every code to caddy's log, not to a phone.
function WhereIsTheCode() {
  return (
    <p>
      <small>
        No SMS is sent: read the code in the terminal running caddy, in the log line with{" "}
        <code>"msg":"otp code"</code> (field <code>code</code>).
      </small>
    </p>
  );
}

export default function App() {
  const [view, setView] = useState("login"); // login | code | logged | stepup-otp | done
  const [phone, setPhone] = useState("");
  const [code, setCode] = useState("");
  const [stepUpCode, setStepUpCode] = useState("");
  const [challengeId, setChallengeId] = useState(null);
  const [user, setUser] = useState(null);
  const [error, setError] = useState(null);
  const [transfer, setTransfer] = useState(null); // {status, body} of the last POST /api/transfers

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
    setError(null);
    try {
      await client.startOTPLogin({ identifier: { type: "phone_number", value: phone } });
      setView("code");
    } catch (err) {
      setError(err.message);
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
      if (err instanceof PrldErrors.BadCheckCode) setError("Wrong code.");
      else setError(err.message);
    }
  };

  // ── Step-up flow ────────────────────────────────────────────

  const handleChallenge = (info) => {
    setChallengeId(info.challengeId);
    if (info.currentStep === "completed") {
      // The SDK has already redeemed the completed challenge (POST /refresh
      // with step_up_token); refresh() returns the new, scoped token.
      client
        .refresh()
        .then(({ user }) => {
          setUser(user);
          setTransfer(null);
          setView("done");
        })
        .catch((err) => setError(err.message));
    } else if (info.currentStep === "verify_sms" || info.currentStep === "verify_email") {
      setView("stepup-otp");
      client.otpCreate({ challengeId: info.challengeId }).catch((err) => setError(err.message));
    }
  };

  const handleStepUp = async () => {
    setError(null);
    try {
      const { status } = await client.requestStepUp({
        scope: "transfer:write",
        onChallenge: handleChallenge,
      });
      if (status === "block") setError("Scope denied by hook.");
    } catch (err) {
      setError(err.message);
    }
  };

  const handleCheckStepUp = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      await client.otpCheck(challengeId, stepUpCode, handleChallenge);
    } catch (err) {
      if (err instanceof PrldErrors.BadCheckCode) setError("Wrong code.");
      else setError(err.message);
    }
  };

  const handleResend = async () => {
    setError(null);
    try {
      await client.otpRetry();
    } catch (err) {
      setError(err.message);
    }
  };

  // ── The legacy API behind the gateway ───────────────────────

  const handleSendTransfer = async () => {
    setError(null);
    try {
      const { user } = await client.refresh();
      const res = await fetch("/api/transfers", {
        method: "POST",
        headers: { Authorization: `Bearer ${user.accessToken}`, "Content-Type": "application/json" },
        body: JSON.stringify({ amount: "500", currency: "USD" }),
      });
      const challenge = res.headers.get("WWW-Authenticate");
      const body = await res.text();
      setTransfer({ status: res.status, body: challenge ? `WWW-Authenticate: ${challenge}\n${body}` : body });
    } catch (err) {
      setError(err.message);
    }
  };

  // ── Render ──────────────────────────────────────────────────

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

        {view === "login" && (
          <form onSubmit={handleSendOTP}>
            <input type="tel" placeholder="+14155551234" value={phone} onChange={(e) => setPhone(e.target.value)} required />
            <button type="submit">Send OTP</button>
            <p>
              <small>Any phone number will do: the quick start prints each code in the terminal running caddy.</small>
            </p>
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
              Logged in. Access token scopes: <code>{decode(user.accessToken).claims.scope || "none"}</code>
            </p>
            <button onClick={handleStepUp}>Request transfer:write scope</button>
          </article>
        )}

        {view === "stepup-otp" && (
          <form onSubmit={handleCheckStepUp}>
            <p>Step-up: verify your phone number</p>
            <input type="text" placeholder="Enter step-up code" value={stepUpCode} onChange={(e) => setStepUpCode(e.target.value)} required />
            <button type="submit">Verify</button>
            <button type="button" className="secondary" onClick={handleResend}>
              Resend
            </button>
            <WhereIsTheCode />
          </form>
        )}

        {view === "done" && user && (
          <article>
            <p>Scope granted</p>
            <pre style={{ textAlign: "left", whiteSpace: "pre-wrap", wordBreak: "break-all" }}>
              {JSON.stringify(decode(user.accessToken).claims, null, 2)}
            </pre>
            <button onClick={handleSendTransfer}>Send transfer</button>
            {transfer && (
              <section aria-label="Legacy API answer" style={{ textAlign: "left", marginTop: "1rem" }}>
                <p>
                  <code>POST /api/transfers</code>: <strong data-testid="transfer-status">HTTP {transfer.status}</strong>
                </p>
                <pre style={{ whiteSpace: "pre-wrap", wordBreak: "break-all" }}>{transfer.body}</pre>
              </section>
            )}
          </article>
        )}
      </main>
    </>
  );
}
