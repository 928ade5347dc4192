// The admin page: policy, device registration with its enrollment token,
// rotation and retirement, and accounts with their roles and password reset.
import { api, clearSession, devicePath } from './api.js';
import { byId, el, fill, formatTime, showError, table, timeElement, whileBusy } from './dom.js';
import { startPage } from './layout.js';

const kSecondsPerDay = 24 * 3600;
const session = startPage('admin.html');

function success(node, text) {
  fill(node, el('p', { class: 'success', role: 'status', text }));
}

// Policy.

async function loadPolicy() {
  try {
    const policy = await api('GET', '/v1/policy');
    byId('policy-reset-mode').value = policy.reset_mode;
    byId('policy-self-service').checked = policy.self_service_recovery;
    byId('policy-rotate').checked = policy.rotate_after_retrieval;
    byId('policy-interval').value = policy.check_in_interval_s;
    byId('policy-min-os').value = policy.min_os_version;
  } catch (error) {
    showError(byId('policy-status'), error, 'Loading the policy');
  }
}

async function savePolicy(event) {
  event.preventDefault();
  const update = {
    reset_mode: byId('policy-reset-mode').value,
    self_service_recovery: byId('policy-self-service').checked,
    rotate_after_retrieval: byId('policy-rotate').checked,
    check_in_interval_s: Number(byId('policy-interval').value),
    min_os_version: byId('policy-min-os').value.trim(),
  };
  await whileBusy(byId('policy-save'), async () => {
    try {
      await api('PUT', '/v1/policy', update);
      success(byId('policy-status'), 'Policy saved. Devices apply it at their next check-in.');
      await loadPolicy();
    } catch (error) {
      showError(byId('policy-status'), error, 'Saving the policy');
    }
  });
}

// Devices.

async function registerDevice(event) {
  event.preventDefault();
  const body = {
    device_id: byId('register-device').value.trim(),
    owner: byId('register-owner').value.trim(),
    token_ttl_s: Number(byId('register-ttl').value) * kSecondsPerDay,
  };
  const result = byId('register-result');
  await whileBusy(byId('register-button'), async () => {
    try {
      const reply = await api('POST', '/v1/devices', body);
      fill(result, el('div', { class: 'success', role: 'status' },
        el('p', { text: 'Registered ' + reply.device_id + ' for ' + reply.owner + '. Enrollment token (valid until ' + formatTime(reply.expires_at) + '):' }),
        el('p', { class: 'token', id: 'enrollment-token', text: reply.enrollment_token }),
        el('p', { class: 'hint', text: 'Give it to the device once; it is not shown again.' })));
    } catch (error) {
      showError(result, error, 'Registering the device');
    }
  });
}

async function requestRotation() {
  const deviceId = byId('action-device').value.trim();
  const result = byId('action-result');
  if (!deviceId) return fill(result, el('p', { class: 'error', role: 'alert', text: 'Enter a device id.' }));
  try {
    const reply = await api('POST', devicePath(deviceId, '/rotation'));
    success(result, 'Rotation requested for ' + deviceId + ' (ledger seq ' + reply.seq + '). The device escrows a new password at its next check-in.');
  } catch (error) {
    showError(result, error, 'Requesting rotation of ' + deviceId);
  }
}

// Retiring destroys the escrow key, so the admin confirms by typing the id again.
function confirmRetire() {
  const deviceId = byId('action-device').value.trim();
  const result = byId('action-result');
  if (!deviceId) return fill(result, el('p', { class: 'error', role: 'alert', text: 'Enter a device id.' }));
  const typed = el('input', { type: 'text', id: 'retire-confirm-id', autocapitalize: 'none', spellcheck: 'false' });
  const retire = el('button', { type: 'button', class: 'danger', id: 'retire-confirm', text: 'Retire for good' });
  const cancel = el('button', { type: 'button', class: 'secondary', text: 'Cancel', onclick: () => fill(result) });
  retire.addEventListener('click', () => whileBusy(retire, async () => {
    if (typed.value.trim() !== deviceId) {
      typed.setAttribute('aria-invalid', 'true');
      typed.focus();
      return;
    }
    try {
      const reply = await api('POST', devicePath(deviceId, '/retire'));
      success(result, 'Retired ' + deviceId + ' (ledger seq ' + reply.seq + '). Its recovery passwords can no longer be retrieved.');
    } catch (error) {
      showError(result, error, 'Retiring ' + deviceId);
    }
  }));
  fill(result, el('div', { class: 'notice warn', role: 'alertdialog', 'aria-label': 'Confirm retirement' },
    el('p', { text: 'Retiring ' + deviceId + ' destroys its escrow key: nobody can retrieve its recovery passwords afterwards. This cannot be undone.' }),
    el('label', {}, 'Type the device id to confirm', typed),
    el('div', { class: 'row' }, retire, cancel)));
  typed.focus();
}

// Accounts.

async function loadAccounts() {
  try {
    const reply = await api('GET', '/v1/accounts');
    fill(byId('account-list'), table([
      { title: 'User name', value: (a) => a.username },
      { title: 'Display name', value: (a) => a.display_name },
      { title: 'Roles', value: (a) => a.roles.join(', ') },
      { title: 'Created', value: (a) => timeElement(a.created_at) },
      { title: '', value: resetButton },
    ], reply.accounts));
  } catch (error) {
    showError(byId('account-list'), error, 'Loading the accounts');
  }
}

function resetButton(account) {
  const button = el('button', {
    type: 'button', class: 'secondary', text: 'Reset password',
    'aria-label': 'Reset password of ' + account.username,
  });
  button.addEventListener('click', () => showResetForm(account.username, button));
  return button;
}

// Asks for the new password twice, then sends POST
// /v1/accounts/{name}/password, which also revokes every session of that
// account. Resetting one's own account therefore ends this session too.
function showResetForm(username, opener) {
  const area = byId('reset-password-area');
  const fresh = el('input', { type: 'password', id: 'reset-new-password', minlength: '8', autocomplete: 'new-password', required: true });
  const confirmation = el('input', { type: 'password', id: 'reset-confirm-password', minlength: '8', autocomplete: 'new-password', required: true });
  const submit = el('button', { type: 'submit', class: 'danger', id: 'reset-password-button', text: 'Reset password' });
  const cancel = el('button', { type: 'button', class: 'secondary', text: 'Cancel' });
  const status = el('div', { 'aria-live': 'polite' });
  const form = el('form', { class: 'stack', 'aria-label': 'Reset password of ' + username },
    el('p', { text: 'Set a new password for ' + username + '. Every session of ' + username + ' is signed out.' }),
    el('label', {}, 'New password for ' + username + ' (8 to 1024 characters)', fresh),
    el('label', {}, 'Confirm new password for ' + username, confirmation),
    el('div', { class: 'row' }, submit, cancel));
  cancel.addEventListener('click', () => {
    fill(area);
    opener.focus();
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    whileBusy(submit, () => resetPassword(username, fresh, confirmation, status));
  });
  fill(area, el('div', { class: 'notice warn' }, form, status));
  fresh.focus();
}

async function resetPassword(username, fresh, confirmation, status) {
  const body = { new_password: fresh.value };
  const matches = fresh.value === confirmation.value;
  fresh.value = '';
  confirmation.value = '';
  if (!matches) {
    fill(status, el('p', { class: 'error', role: 'alert',
      text: 'The new password and its confirmation differ. Type the same new password twice.' }));
    fresh.focus();
    return;
  }
  try {
    await api('POST', '/v1/accounts/' + encodeURIComponent(username) + '/password', body);
  } catch (error) {
    showError(status, error, 'Resetting the password of ' + username);
    return;
  }
  if (username === session.username) {
    clearSession();
    location.assign('index.html?expired=1');
    return;
  }
  success(byId('reset-password-area'), 'Password of ' + username + ' reset; its sessions are signed out.');
}

async function createAccount(event) {
  event.preventDefault();
  const roles = [...document.querySelectorAll('#account-form input[name="role"]:checked')].map((box) => box.value);
  const body = {
    username: byId('account-username').value.trim(),
    password: byId('account-password').value,
    roles,
    display_name: byId('account-display-name').value.trim(),
  };
  const result = byId('account-result');
  await whileBusy(byId('account-button'), async () => {
    try {
      const reply = await api('POST', '/v1/accounts', body);
      byId('account-password').value = '';
      success(result, 'Created account ' + reply.username + ' with roles ' + reply.roles.join(', ') + '.');
      await loadAccounts();
    } catch (error) {
      showError(result, error, 'Creating the account');
    }
  });
}

if (session) {
  byId('policy-form').addEventListener('submit', savePolicy);
  byId('register-form').addEventListener('submit', registerDevice);
  byId('rotate-button').addEventListener('click', requestRotation);
  byId('retire-button').addEventListener('click', confirmRetire);
  byId('device-action-form').addEventListener('submit', (event) => event.preventDefault());
  byId('account-form').addEventListener('submit', createAccount);
  loadPolicy();
  loadAccounts();
}
