// The console's only way to the server: the JSON API under /v1, with the
// session token in sessionStorage and the Authorization header. Cookies are
// never used, so a request from another web site cannot carry the session.

const kSessionKey = 'escrow.session';

// Returns {token, username, roles} of the signed-in user, or null.
export function currentSession() {
  const text = sessionStorage.getItem(kSessionKey);
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    sessionStorage.removeItem(kSessionKey);
    return null;
  }
}

// JSON.parse reviver: an integer beyond 2^53, such as a nanosecond time,
// becomes its exact digits as a string instead of a rounded number. Browsers
// without the reviver's source-text argument keep the rounded number.
function keepLargeIntegers(key, value, context) {
  if (typeof value === 'number' && !Number.isSafeInteger(value) && Number.isInteger(value) &&
      context && typeof context.source === 'string') {
    return context.source;
  }
  return value;
}

export function saveSession(session) {
  sessionStorage.setItem(kSessionKey, JSON.stringify({
    token: session.token,
    username: session.username,
    roles: session.roles,
  }));
}

export function clearSession() {
  sessionStorage.removeItem(kSessionKey);
}

// An error reply of the API: status is the HTTP status, code the "error" field.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Sends one request and returns the parsed JSON reply, or the raw Response
// when options.raw is set. Throws ApiError for a non-2xx reply. A 401 ends
// the session and returns the user to the sign-in page.
export async function api(method, path, body, options = {}) {
  const headers = { 'Accept': 'application/json' };
  const session = currentSession();
  if (session) headers['Authorization'] = 'Bearer ' + session.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';

  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (error) {
    throw new ApiError(0, 'unavailable', 'Request to the server failed: ' + error.message);
  }

  if (response.ok && options.raw) return response;
  const text = await response.text();
  let reply = {};
  try {
    reply = text ? JSON.parse(text, keepLargeIntegers) : {};
  } catch {
    reply = { error: 'bad_reply', message: 'The server sent a reply that is not JSON.' };
  }
  if (response.ok) return reply;

  if (response.status === 401 && session && !options.keepSession) {
    clearSession();
    location.assign('index.html?expired=1');
  }
  throw new ApiError(response.status, reply.error || 'http_' + response.status,
                     reply.message || 'Request failed with HTTP status ' + response.status);
}

// Returns "/v1/devices/ID" with the id percent-encoded.
export function devicePath(deviceId, suffix = '') {
  return '/v1/devices/' + encodeURIComponent(deviceId) + suffix;
}
