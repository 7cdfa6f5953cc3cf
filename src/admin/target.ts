// The admin request target (RFC 9112 §3.2), parsed without ever throwing: a URL, or null when it is bad.

// Fixed origin for origin-form targets; `.invalid` (RFC 2606) can never be a real host.
const origin = 'http://admin.invalid';
// RFC 3986 §3.3 and §3.4: pchar (unreserved, sub-delims, ":", "@", percent-encoded octet) and "/";
// the query also allows "?". One alternative per character, so matching is linear.
const pathChars = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*$/;
const queryChars = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*$/;

/**
 * `target` is the raw request-target of the request line (`req.url`). Origin form (`/path?query`) must
 * use only RFC 3986 path and query characters, and is read under a fixed origin, so a leading `//`
 * stays part of the path instead of starting a host (`new URL('//[', base)` throws). Absolute form
 * (`http://host/path`, RFC 9112 §3.2.2) must be http or https with a host URL accepts, then the same
 * path and query rules; only its path and query are used. Asterisk form (`*`), authority form, a
 * fragment, and anything else give null. Dot segments are resolved; percent-encoding stays as sent.
 */
export function parseTarget(target: string): URL | null {
  if (target.startsWith('/')) return validPathAndQuery(target) ? URL.parse(origin + target) : null;
  const absolute = /^https?:\/\/([^/?]+)(.*)$/is.exec(target);
  if (!absolute) return null;
  const rest = absolute[2];
  if (rest !== '' && !(rest.startsWith('/') ? validPathAndQuery(rest) : rest.startsWith('?') && validPathAndQuery('/' + rest))) return null;
  return URL.parse(target);
}

function validPathAndQuery(target: string): boolean {
  const q = target.indexOf('?');
  return pathChars.test(q < 0 ? target : target.slice(0, q)) && (q < 0 || queryChars.test(target.slice(q + 1)));
}
