// Shows a recovery password as four groups of five digits, with a copy
// button and the steps to type it at the lock screen.
import { el } from './dom.js';

// Splits "12345-67890-12345-67890" (or 20 bare digits) into four groups.
export function passwordGroups(password) {
  const digits = String(password).replace(/[^0-9]/g, '');
  return digits.match(/.{1,5}/g) || [];
}

// Returns a node that shows password for deviceId. The console keeps the
// password nowhere else, so removing the node removes it from the page.
export function passwordView(password, deviceId) {
  const groups = passwordGroups(password);
  const digits = el('p', {
    class: 'recovery-password',
    id: 'recovery-password',
    'aria-label': 'Recovery password, four groups of five digits',
  }, ...groups.map((group) => el('span', { text: group })));

  const copyStatus = el('span', { class: 'hint', 'aria-live': 'polite' });
  const copy = el('button', { type: 'button', class: 'secondary', id: 'copy-password', text: 'Copy' });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(groups.join('-'));
      copyStatus.textContent = 'Copied.';
    } catch {
      copyStatus.textContent = 'This browser did not allow copying; read the digits from the screen.';
    }
  });

  const steps = el('ol', { class: 'steps' },
    el('li', { text: 'On the locked device ' + deviceId + ', choose "Forgot password" and then "Use recovery password".' }),
    el('li', { text: 'Type the 20 digits in the order shown. The dashes between the groups are optional.' }),
    el('li', { text: 'Sign in and set a new password when the device asks. The device then escrows a new recovery password, and this one stops working.' }));

  return el('div', { class: 'success', role: 'region', 'aria-label': 'Recovery password' },
    el('p', { text: 'Recovery password for ' + deviceId + ':' }),
    digits,
    el('div', { class: 'row' }, copy, copyStatus),
    el('h3', { text: 'At the lock screen' }),
    steps);
}
