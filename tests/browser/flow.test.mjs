// The quick start, clicked through as a person would: starts the example the
// way README's first command does (./quickstart.sh: builds caddy with xcaddy,
// builds the demo page, runs Caddyfile.example), opens https://localhost:8443/
// in Debian's Chromium (playwright-core, no browser download), logs in with a
// phone number, steps up to transfer:write, and calls the legacy API through
// the gateway: 200 once, then 401 (the grant is single-use). Every OTP is read
// from caddy's log, like the person at the terminal would.
//
//   node --test tests/browser/flow.test.mjs
//
// Environment:
//   STEPUP_CADDY=/path/to/caddy   skip the xcaddy build in development: build
//                                 the demo page and run this binary with the
//                                 same config instead of ./quickstart.sh
//   STEPUP_CADDYFILE=path         the config for STEPUP_CADDY (default
//                                 Caddyfile.example)
//   STEPUP_CHROMIUM=path          the browser (default /usr/bin/chromium)
//   UPDATE_DOCS_SCREENSHOT=1      also copy the "Scope granted" + HTTP 200
//                                 screenshot to docs/quickstart.png
//
// Screenshots, caddy's log, the page's console and the network trace go to
// tests/browser/artifacts/ (git-ignored).
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { CaddyProcess } from "./caddy-process.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../..");
const artifacts = join(here, "artifacts");
const origin = "https://localhost:8443";
const phone = "+14155551234";

// Debian's chromium, headless, with nothing that phones home.
const chromiumFlags = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** The command README gives first, or the dev shortcut with a prebuilt caddy. */
function quickStartCommand() {
  const prebuilt = process.env.STEPUP_CADDY;
  if (!prebuilt) return { cmd: "./quickstart.sh", args: [] };
  const config = process.env.STEPUP_CADDYFILE || "Caddyfile.example";
  return {
    cmd: "bash",
    args: ["-c", 'demo/build.sh && exec "$0" run --config "$1" --adapter caddyfile', resolve(prebuilt), config],
  };
}

test("quick start: login, step-up to transfer:write, legacy API 200 then 401", { timeout: 30 * 60 * 1000 }, async (t) => {
  rmSync(artifacts, { recursive: true, force: true });
  mkdirSync(artifacts, { recursive: true });
  const scratch = mkdtempSync(join(tmpdir(), "stepup-browser-"));

  // Caddy keeps its local CA under XDG_DATA_HOME: a fresh one per run, so the
  // test neither reads nor leaves state in the user's home.
  const { cmd, args } = quickStartCommand();
  const caddy = new CaddyProcess(cmd, args, {
    cwd: repo,
    env: { ...process.env, XDG_DATA_HOME: join(scratch, "data"), XDG_CONFIG_HOME: join(scratch, "config") },
    logFile: join(artifacts, "caddy.log"),
  });
  t.after(async () => {
    await caddy.stop();
    rmSync(scratch, { recursive: true, force: true });
  });
  await caddy.waitForHTTPS(origin, 25 * 60 * 1000);

  const context = await chromium.launchPersistentContext(join(scratch, "chromium-profile"), {
    executablePath: process.env.STEPUP_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: chromiumFlags,
    ignoreHTTPSErrors: true,
    viewport: { width: 900, height: 860 },
  });
  t.after(() => context.close());
  const trace = recordPage(context);
  t.after(() => trace.save());
  const page = context.pages()[0] ?? (await context.newPage());
  trace.watch(page);

  const shot = async (name) => page.screenshot({ path: join(artifacts, `${name}.png`) });
  const alert = page.getByRole("alert");

  // 1. Login: the seed's phone input and button.
  await page.goto(origin + "/");
  await page.getByRole("heading", { name: "Step-Up Demo" }).waitFor();
  const phoneInput = page.getByPlaceholder("+14155551234");
  await phoneInput.waitFor();
  assert.equal(await phoneInput.getAttribute("type"), "tel");
  await assertVisibleText(page, "terminal running caddy");
  await shot("1-login");

  let mark = caddy.otpCount();
  await phoneInput.fill(phone);
  await page.getByRole("button", { name: "Send OTP" }).click();

  // 2. The login code, read from caddy's log.
  const codeInput = page.getByPlaceholder("Enter login code");
  await codeInput.waitFor();
  const loginCode = await caddy.waitForOTP(phone, mark);
  await shot("2-code");
  await codeInput.fill(loginCode);
  await page.getByRole("button", { name: "Verify" }).click();

  // 3. Logged in, without the scope yet.
  const stepUpButton = page.getByRole("button", { name: "Request transfer:write scope" });
  await stepUpButton.waitFor();
  assert.match(await page.locator("article p").innerText(), /^Logged in\. Access token scopes: /);
  assert.equal(await page.locator("article p code").innerText(), "none");
  await assertNoAlert(alert);
  await shot("3-logged-in");

  // 4. Step-up: a second code to the same phone; Resend sends another.
  mark = caddy.otpCount();
  await stepUpButton.click();
  const stepUpInput = page.getByPlaceholder("Enter step-up code");
  await stepUpInput.waitFor();
  await assertVisibleText(page, "Step-up: verify your phone number");
  const firstStepUpCode = await caddy.waitForOTP(phone, mark);
  assert.notEqual(firstStepUpCode, loginCode);
  await assertNoAlert(alert);
  await shot("4-stepup-code");

  // Resend as a person would: the server refuses resends for a while after
  // each send ("Too many attempts: wait and try again."), so wait and retry.
  mark = caddy.otpCount();
  const resend = page.getByRole("button", { name: "Resend" });
  let stepUpCode;
  for (let tries = 1; !stepUpCode; tries++) {
    await resend.click();
    stepUpCode = await caddy.waitForOTP(phone, mark, 3_000).catch((err) => {
      if (!/no OTP/.test(err.message) || tries >= 20) throw err;
    });
    if (!stepUpCode) {
      await alert.waitFor();
      assert.match(await alert.innerText(), /wait a little/);
      if (tries === 1) await shot("4b-stepup-resend-too-soon");
      await sleep(5_000);
    }
  }
  await assertNoAlert(alert);

  // A wrong code is refused and the view stays.
  await stepUpInput.fill(wrongCode(stepUpCode, firstStepUpCode));
  await page.getByRole("button", { name: "Verify" }).click();
  await alert.waitFor();
  await shot("5-stepup-wrong-code");
  await stepUpInput.waitFor();

  await stepUpInput.fill(stepUpCode);
  await page.getByRole("button", { name: "Verify" }).click();

  // 5. Scope granted: the decoded claims carry transfer:write.
  await page.getByText("Scope granted", { exact: true }).waitFor();
  const claimsText = await page.locator("article pre").first().innerText();
  const claims = JSON.parse(claimsText);
  assert.ok(scopesOf(claims).includes("transfer:write"), `claims without transfer:write: ${claimsText}`);
  await assertNoAlert(alert);
  await shot("6-scope-granted");

  // 6. The legacy API through the gateway: accepted once...
  const status = page.getByTestId("transfer-status");
  await page.getByRole("button", { name: "Send transfer" }).click();
  await status.filter({ hasText: /HTTP \d+/ }).waitFor();
  assert.equal(await status.innerText(), "HTTP 200");
  assert.match(await page.locator("section pre").innerText(), /"transfer":"accepted"/);
  await shot("7-transfer-200");
  if (process.env.UPDATE_DOCS_SCREENSHOT === "1") {
    const png = join(repo, "docs", "quickstart.png");
    mkdirSync(dirname(png), { recursive: true });
    copyFileSync(join(artifacts, "7-transfer-200.png"), png);
    assert.ok(statSync(png).size < 200 * 1024, "docs/quickstart.png must stay under 200 KB");
  }

  // ...then a step-up challenge again: the grant was single-use.
  await page.getByRole("button", { name: "Send transfer" }).click();
  await status.filter({ hasText: "HTTP 401" }).waitFor();
  assert.equal(await status.innerText(), "HTTP 401");
  assert.match(await page.locator("section pre").innerText(), /insufficient_user_authentication[\s\S]*"step_up_required"/);
  await shot("8-transfer-401");
});

/** The scopes of an access token's claims: RFC 9068 "scope" string, or a "scopes" array. */
function scopesOf(claims) {
  const fromString = typeof claims.scope === "string" ? claims.scope.split(" ") : [];
  const fromArray = Array.isArray(claims.scopes) ? claims.scopes : [];
  return [...fromString, ...fromArray];
}

/** A six-digit code that is neither of the given ones. */
function wrongCode(...codes) {
  for (let n = 0; ; n++) {
    const candidate = String(n).padStart(codes[0].length, "0");
    if (!codes.includes(candidate)) return candidate;
  }
}

async function assertVisibleText(page, text) {
  await page.getByText(text).first().waitFor();
}

async function assertNoAlert(alert) {
  assert.equal(await alert.count(), 0, `the page shows an error: ${await alert.allInnerTexts()}`);
}

/** Keeps the page's console and every session/API exchange, for the artifacts. */
function recordPage(context) {
  const lines = [];
  const stamp = () => new Date().toISOString();
  return {
    watch(page) {
      page.on("console", (m) => lines.push(`${stamp()} console.${m.type()}: ${m.text()}`));
      page.on("pageerror", (e) => lines.push(`${stamp()} pageerror: ${e.message}`));
      page.on("requestfailed", (r) => lines.push(`${stamp()} FAILED ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
      page.on("response", async (r) => {
        const req = r.request();
        const url = new URL(r.url());
        if (!url.pathname.startsWith("/v1/session") && !url.pathname.startsWith("/api/")) return;
        let body = "";
        try {
          body = (await r.text()).slice(0, 2000);
        } catch {
          body = "(no body)";
        }
        lines.push(
          `${stamp()} ${req.method()} ${url.pathname} ${req.postData() ?? ""}\n` +
            `  -> ${r.status()} ${JSON.stringify(pick(r.headers(), ["www-authenticate", "content-type", "set-cookie"]))} ${body}`,
        );
      });
    },
    save() {
      writeFileSync(join(artifacts, "page.log"), lines.join("\n") + "\n");
    },
  };
}

function pick(obj, keys) {
  return Object.fromEntries(keys.filter((k) => k in obj).map((k) => [k, obj[k]]));
}
