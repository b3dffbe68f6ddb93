// A caddy started for a test: its output copied to a log file, its JSON log
// lines read for the OTP codes the `log` sender writes (logger "stepup.otp",
// fields `to` and `code`), stopped by its process id at the end.
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { request } from "node:https";
import { setTimeout as sleep } from "node:timers/promises";

/** The OTP log line's logger name. */
const otpLogger = "stepup.otp";

export class CaddyProcess {
  /**
   * Starts cmd in its own process group (so that the build steps a script
   * runs before `exec caddy` are stopped with it).
   */
  constructor(cmd, args, { cwd, env, logFile }) {
    this.otps = []; // {to, code}, in log order
    this.tail = []; // the last output lines, for error messages
    this.waiters = new Set();
    this.log = createWriteStream(logFile);
    this.child = spawn(cmd, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    this.exited = new Promise((done) => {
      this.child.on("exit", (code, signal) => {
        this.exit = { code, signal };
        this.wake();
        done();
      });
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let partial = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk) => {
        this.log.write(chunk);
        const lines = (partial + chunk).split("\n");
        partial = lines.pop();
        lines.forEach((line) => this.readLine(line));
      });
    }
  }

  readLine(line) {
    this.tail.push(line);
    if (this.tail.length > 40) this.tail.shift();
    if (!line.startsWith("{")) return;
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      return;
    }
    if (entry.logger === otpLogger && typeof entry.code === "string") {
      this.otps.push({ to: entry.to, code: entry.code });
      this.wake();
    }
  }

  wake() {
    for (const w of this.waiters) w();
  }

  /** How many OTP lines were read so far: pass it to waitForOTP as `after`. */
  otpCount() {
    return this.otps.length;
  }

  /** The newest code sent to `to` among the OTP lines logged after the first `after`. */
  async waitForOTP(to, after, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.otps.slice(after).filter((o) => o.to === to);
      if (found.length > 0) return found[found.length - 1].code;
      this.assertRunning();
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no OTP for ${to} in caddy's log within ${timeoutMs} ms\n${this.tailText()}`);
      await new Promise((wake) => {
        const timer = setTimeout(finish, Math.min(left, 500));
        this.waiters.add(finish);
        function finish() {
          clearTimeout(timer);
          wake();
        }
      }).finally(() => this.waiters.clear());
    }
  }

  /** Waits until origin answers over HTTPS (any status), or the process exits. */
  async waitForHTTPS(origin, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      this.assertRunning();
      if (await answers(origin)) return;
      await sleep(500);
    }
    throw new Error(`${origin} did not answer within ${timeoutMs} ms\n${this.tailText()}`);
  }

  assertRunning() {
    if (this.exit) {
      throw new Error(`the quick start exited (${JSON.stringify(this.exit)}) before the test was done\n${this.tailText()}`);
    }
  }

  tailText() {
    return this.tail.join("\n");
  }

  /** Stops the process group by its id: SIGTERM, then SIGKILL if it lingers. */
  async stop() {
    if (!this.exit) {
      signalGroup(this.child.pid, "SIGTERM");
      const stopped = await Promise.race([this.exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!stopped) signalGroup(this.child.pid, "SIGKILL");
      await this.exited;
    }
    await new Promise((done) => this.log.end(done));
  }
}

function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if (err.code !== "ESRCH") throw err;
  }
}

/** Whether origin completes a TLS handshake and an HTTP exchange. */
function answers(origin) {
  return new Promise((done) => {
    const req = request(origin + "/", { method: "HEAD", rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      done(true);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => done(false));
    req.end();
  });
}
