// A small RFC 6265 cookie jar for Node's fetch, which ignores
// `credentials` and never stores or sends cookies by itself. The session
// API keeps its login flow and refresh token in HttpOnly cookies, so the
// SDK only works against it if something plays the browser's part.
//
// Modelled: host-only and Domain cookies, Path (with the default path),
// Secure (stored and sent over https only), Max-Age and Expires (a past
// date or Max-Age <= 0 deletes), the __Host- and __Secure- prefixes.
// Not modelled: SameSite (Node has no page origin to compare with), the
// public suffix list, cookie size limits.

/** @typedef {{name:string,value:string,domain:string,hostOnly:boolean,path:string,secure:boolean,httpOnly:boolean,expires:number}} Cookie */

export class CookieJar {
  /** @type {Cookie[]} */
  #cookies = [];

  /**
   * Stores the cookies of one response.
   * @param {URL} url the request URL
   * @param {string[]} setCookies the response's Set-Cookie header values
   * @returns {string[]} what happened, by cookie name (for debug logs)
   */
  store(url, setCookies) {
    const events = [];
    for (const line of setCookies) {
      const cookie = parseSetCookie(url, line);
      if (!cookie) {
        events.push("ignored a malformed or refused cookie");
        continue;
      }
      this.#cookies = this.#cookies.filter(
        (c) => !(c.name === cookie.name && c.domain === cookie.domain && c.path === cookie.path),
      );
      if (cookie.expires <= Date.now()) {
        events.push(`deleted ${cookie.name}`);
        continue;
      }
      this.#cookies.push(cookie);
      events.push(`set ${cookie.name}${cookie.httpOnly ? " (HttpOnly)" : ""}`);
    }
    return events;
  }

  /**
   * The Cookie header for a request, or "" when no cookie applies.
   * @param {URL} url
   */
  header(url) {
    const now = Date.now();
    this.#cookies = this.#cookies.filter((c) => c.expires > now);
    return this.#matching(url)
      .map((c) => `${c.name}=${c.value}`)
      .join("; ");
  }

  /**
   * Names of the cookies that would be sent to url (for debug logs).
   * @param {URL} url
   */
  names(url) {
    return this.#matching(url).map((c) => c.name);
  }

  /** Forgets every cookie. */
  clear() {
    this.#cookies = [];
  }

  #matching(url) {
    const host = url.hostname.toLowerCase();
    const secure = url.protocol === "https:";
    return this.#cookies
      .filter(
        (c) =>
          (c.hostOnly ? host === c.domain : domainMatches(host, c.domain)) &&
          pathMatches(url.pathname, c.path) &&
          (!c.secure || secure),
      )
      .sort((a, b) => b.path.length - a.path.length);
  }
}

/**
 * Parses one Set-Cookie value the way a browser would; null when a browser
 * would ignore it.
 * @param {URL} url
 * @param {string} line
 * @returns {Cookie | null}
 */
function parseSetCookie(url, line) {
  const [pair, ...attrs] = line.split(";");
  const eq = pair.indexOf("=");
  if (eq <= 0) return null;
  const name = pair.slice(0, eq).trim();
  const value = pair.slice(eq + 1).trim();
  const host = url.hostname.toLowerCase();
  const secureRequest = url.protocol === "https:";
  const cookie = {
    name,
    value,
    domain: host,
    hostOnly: true,
    path: defaultPath(url.pathname),
    secure: false,
    httpOnly: false,
    expires: Infinity,
  };
  let maxAge = null;
  let domainSet = false;
  let pathSet = false;
  for (const attr of attrs) {
    const i = attr.indexOf("=");
    const key = (i < 0 ? attr : attr.slice(0, i)).trim().toLowerCase();
    const val = i < 0 ? "" : attr.slice(i + 1).trim();
    switch (key) {
      case "path":
        if (val.startsWith("/")) {
          cookie.path = val;
          pathSet = true;
        }
        break;
      case "domain": {
        const d = val.replace(/^\./, "").toLowerCase();
        if (!d) break;
        if (!domainMatches(host, d)) return null; // a browser refuses it
        cookie.domain = d;
        cookie.hostOnly = false;
        domainSet = true;
        break;
      }
      case "max-age":
        if (/^-?\d+$/.test(val)) maxAge = Number(val);
        break;
      case "expires": {
        const t = Date.parse(val);
        if (!Number.isNaN(t)) cookie.expires = t;
        break;
      }
      case "secure":
        cookie.secure = true;
        break;
      case "httponly":
        cookie.httpOnly = true;
        break;
    }
  }
  if (maxAge !== null) cookie.expires = maxAge <= 0 ? 0 : Date.now() + maxAge * 1000;
  if (cookie.secure && !secureRequest) return null; // only a secure origin may set Secure cookies
  if (name.startsWith("__Secure-") && !cookie.secure) return null;
  if (name.startsWith("__Host-") && (!cookie.secure || domainSet || !pathSet || cookie.path !== "/")) return null;
  return cookie;
}

function defaultPath(pathname) {
  if (!pathname.startsWith("/")) return "/";
  const last = pathname.lastIndexOf("/");
  return last <= 0 ? "/" : pathname.slice(0, last);
}

function domainMatches(host, domain) {
  return host === domain || (host.endsWith("." + domain) && !/^[\d.]+$/.test(host));
}

function pathMatches(requestPath, cookiePath) {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith("/") || requestPath[cookiePath.length] === "/";
}
