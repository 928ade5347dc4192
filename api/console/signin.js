// The sign-in page: POST /v1/sessions, keep the token for this tab, and open
// the first page the user's roles allow.
import { ApiError, api, currentSession, saveSession } from './api.js';
import { byId, el, fill, whileBusy } from './dom.js';
import { homePage } from './layout.js';

const status = byId('signin-status');
const form = byId('signin-form');

if (new URLSearchParams(location.search).has('expired')) {
  fill(status, el('p', { class: 'notice warn', text: 'Your session has ended. Sign in again.' }));
}
const existing = currentSession();
if (existing) location.replace(homePage(existing));

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const username = byId('username').value.trim();
  const password = byId('password').value;
  await whileBusy(byId('signin-button'), async () => {
    try {
      const session = await api('POST', '/v1/sessions', { username, password }, { keepSession: true });
      saveSession(session);
      byId('password').value = '';
      location.assign(homePage(session));
    } catch (error) {
      const text = error instanceof ApiError && error.status === 401
        ? 'Wrong user name or password.'
        : 'Sign-in failed: ' + error.message;
      fill(status, el('p', { class: 'error', role: 'alert', text }));
    }
  });
});
