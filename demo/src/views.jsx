// The demo page's small views, without state of their own.

// The log sender writes every code to caddy's log, not to a phone.
export function WhereIsTheCode() {
  return (
    <p>
      <small>
        No SMS is sent: read the code in the terminal running caddy, in the log line with{" "}
        <code>"msg":"otp code"</code> (field <code>code</code>).
      </small>
    </p>
  );
}

// How the session's last authentication was made: RFC 8176 amr (a passkey
// says hwk or swk, and pin or user) and the acr routes can ask for.
export function AuthenticationEvent({ claims }) {
  const amr = Array.isArray(claims.amr) ? claims.amr.join(", ") : "none";
  return (
    <small data-testid="auth-event" style={{ display: "block", marginBottom: "1rem" }}>
      Last authentication: amr {amr}; acr {claims.acr || "none"}
    </small>
  );
}

// The verify_passkey step of a step-up: what it is for, and the button that
// has the browser ask for the passkey (a click: some browsers ask only after one).
export function PasskeyStep({ step, busy, onUse, onCancel }) {
  return (
    <article aria-label="Passkey step">
      <p>Step-up: confirm with your passkey</p>
      <p>
        <small>
          <code>{step.scope}</code> needs the passkey you added (step <code>verify_passkey</code>). Your browser asks
          for it: only this site ({step.options.rpId}) can use it, so a look-alike site gets nothing to replay.
        </small>
      </p>
      <button onClick={onUse} disabled={busy}>
        Use my passkey
      </button>{" "}
      <button className="secondary" onClick={onCancel} disabled={busy}>
        Cancel
      </button>
    </article>
  );
}
