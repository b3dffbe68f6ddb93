// What the quick start's browser tests share: the quick start itself
// (./quickstart.sh, or a prebuilt caddy with STEPUP_CADDY), Debian's
// Chromium with a fresh profile, the page's log, and small assertions.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { CaddyProcess } from "./caddy-process.mjs";

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, "../..");
export const artifacts = join(here, "artifacts");
export const origin = "https://localhost:8443";

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

/**
 * Starts the quick start and waits until it answers; stop() stops it and
 * removes its scratch directory. Caddy keeps its local CA under
 * XDG_DATA_HOME: a fresh one per run, so the test neither reads nor leaves
 * state in the user's home.
 */
export async function startQuickStart() {
  rmSync(artifacts, { recursive: true, force: true });
  mkdirSync(artifacts, { recursive: true });
  const scratch = mkdtempSync(join(tmpdir(), "stepup-browser-"));
  const { cmd, args } = quickStartCommand();
  const caddy = new CaddyProcess(cmd, args, {
    cwd: repo,
    env: { ...process.env, XDG_DATA_HOME: join(scratch, "data"), XDG_CONFIG_HOME: join(scratch, "config") },
    logFile: join(artifacts, "caddy.log"),
  });
  const stop = async () => {
    await caddy.stop();
    rmSync(scratch, { recursive: true, force: true });
  };
  try {
    await caddy.waitForHTTPS(origin, 25 * 60 * 1000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { caddy, scratch, stop };
}

/**
 * Opens Chromium with a fresh profile named name under scratch, and its
 * first page, whose console and exchanges are kept in
 * artifacts/<name>-page.log; shot(file) saves a screenshot to artifacts.
 * Registers the cleanup on t.
 */
export async function openBrowser(t, scratch, name) {
  const context = await chromium.launchPersistentContext(join(scratch, `${name}-profile`), {
    executablePath: process.env.STEPUP_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: chromiumFlags,
    ignoreHTTPSErrors: true,
    viewport: { width: 900, height: 860 },
  });
  t.after(() => context.close());
  const trace = recordPage(join(artifacts, `${name}-page.log`));
  t.after(() => trace.save());
  const page = context.pages()[0] ?? (await context.newPage());
  trace.watch(page);
  const shot = (file) => page.screenshot({ path: join(artifacts, `${file}.png`) });
  return { context, page, shot };
}

/** With UPDATE_DOCS_SCREENSHOT=1, copies an artifact screenshot to docs/<file> (kept under 200 KB). */
export function updateDocsScreenshot(artifact, file) {
  if (process.env.UPDATE_DOCS_SCREENSHOT !== "1") return;
  const png = join(repo, "docs", file);
  mkdirSync(dirname(png), { recursive: true });
  copyFileSync(join(artifacts, `${artifact}.png`), png);
  assert.ok(statSync(png).size < 200 * 1024, `docs/${file} must stay under 200 KB`);
}

/** The scopes of an access token's claims: RFC 9068 "scope" string, or a "scopes" array. */
export function scopesOf(claims) {
  const fromString = typeof claims.scope === "string" ? claims.scope.split(" ") : [];
  const fromArray = Array.isArray(claims.scopes) ? claims.scopes : [];
  return [...fromString, ...fromArray];
}

export async function assertVisibleText(page, text) {
  await page.getByText(text).first().waitFor();
}

export async function assertNoAlert(alert) {
  assert.equal(await alert.count(), 0, `the page shows an error: ${await alert.allInnerTexts()}`);
}

/** Keeps the page's console and every session/API exchange, for the artifacts. */
function recordPage(file) {
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
      writeFileSync(file, lines.join("\n") + "\n");
    },
  };
}

function pick(obj, keys) {
  return Object.fromEntries(keys.filter((k) => k in obj).map((k) => [k, obj[k]]));
}
