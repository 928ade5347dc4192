// The frame of every signed-in page: the top bar with the pages the user's
// roles open, the user name and a sign-out button.
import { api, clearSession, currentSession } from './api.js';
import { el } from './dom.js';

// Pages and the roles that open them, in the order of the top bar.
export const kPages = [
  { file: 'portal.html', title: 'My devices', roles: ['user', 'helpdesk', 'admin', 'auditor'] },
  { file: 'helpdesk.html', title: 'Help desk', roles: ['helpdesk', 'admin'] },
  { file: 'admin.html', title: 'Admin', roles: ['admin'] },
  { file: 'audit.html', title: 'Audit', roles: ['auditor', 'admin'] },
];

export function hasAnyRole(session, roles) {
  return session.roles.some((role) => roles.includes(role));
}

// Returns the first page the session's roles open.
export function homePage(session) {
  if (hasAnyRole(session, ['admin'])) return 'admin.html';
  if (hasAnyRole(session, ['helpdesk'])) return 'helpdesk.html';
  if (hasAnyRole(session, ['auditor'])) return 'audit.html';
  return 'portal.html';
}

// Checks the session and draws the top bar. Returns the session, or null
// after sending a signed-out visitor to the sign-in page.
export function startPage(file) {
  const session = currentSession();
  if (!session) {
    location.replace('index.html');
    return null;
  }

  const links = kPages
    .filter((page) => hasAnyRole(session, page.roles))
    .map((page) => el('a', {
      href: page.file,
      'aria-current': page.file === file ? 'page' : undefined,
      text: page.title,
    }));
  const signOut = el('button', { type: 'button', class: 'secondary', text: 'Sign out' });
  signOut.addEventListener('click', async () => {
    try {
      await api('DELETE', '/v1/sessions', undefined, { keepSession: true });
    } catch {
      // The session may have expired already; signing out locally is enough.
    }
    clearSession();
    location.assign('index.html');
  });

  const bar = document.querySelector('header.bar');
  bar.replaceChildren(
    el('span', { class: 'brand', text: 'Escrow Ledger' }),
    el('nav', { 'aria-label': 'Console pages' }, ...links),
    el('span', { class: 'who', id: 'signed-in-as', text: session.username + ' (' + session.roles.join(', ') + ')' }),
    signOut);
  return session;
}
