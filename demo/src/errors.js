// The error the page's own passkey calls throw: the gateway's refusal
// ({code, message}) or the browser's, in words a person can act on.
export class PasskeyError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}
