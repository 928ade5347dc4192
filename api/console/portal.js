// The owner's portal: my devices and their state, "Show recovery password"
// after a confirmation, every retrieval of that device's password, and the
// form that changes the signed-in user's own password.
import { api, devicePath, saveSession } from './api.js';
import { byId, el, fill, showError, table, timeElement, whileBusy } from './dom.js';
import { startPage } from './layout.js';
import { passwordView } from './password.js';
import { describeState } from './states.js';

const session = startPage('portal.html');
let policy = null;
let myRetrievals = [];

async function loadPortal() {
  try {
    policy = await api('GET', '/v1/policy');
    if (!policy.self_service_recovery) {
      fill(byId('portal-status'), el('p', { class: 'notice warn', id: 'self-service-off',
        text: 'Self-service recovery is turned off. To get a recovery password, call the help desk; they retrieve it for you after checking who you are.' }));
    }
    const [devices, retrievals] = await Promise.all([
      api('GET', '/v1/devices?owner=' + encodeURIComponent(session.username)),
      api('GET', '/v1/me/retrievals'),
    ]);
    myRetrievals = retrievals.retrievals;
    renderDevices(devices.devices);
  } catch (error) {
    showError(byId('device-list'), error, 'Loading your devices');
  }
}

function renderDevices(devices) {
  if (devices.length === 0) {
    fill(byId('device-list'), el('p', { text: 'No devices are registered to you.' }));
    return;
  }
  const open = (device) => el('button', {
    type: 'button', class: 'secondary', 'data-device': device.device_id,
    text: 'Open', 'aria-label': 'Open ' + device.device_id, onclick: () => openDevice(device.device_id),
  });
  fill(byId('device-list'), table([
    { title: 'Device', value: (d) => d.device_id },
    { title: 'State', value: (d) => describeState(d.state) },
    { title: 'Recovery password', value: (d) => d.password_status },
    { title: '', value: open },
  ], devices));
}

async function openDevice(deviceId) {
  const panel = byId('device-panel');
  panel.hidden = false;
  byId('device-title').textContent = 'Device ' + deviceId;
  fill(byId('reveal-area'));
  try {
    const device = await api('GET', devicePath(deviceId));
    fill(byId('device-state'), el('p', { id: 'device-state-text',
      text: 'State: ' + describeState(device.state) + '. Recovery password: ' + device.password_status + '.' }));
    renderRevealButton(device);
    renderRetrievals(deviceId);
    byId('device-title').focus();
  } catch (error) {
    fill(byId('device-state'));
    showError(byId('device-state'), error, 'Opening device ' + deviceId);
  }
}

function renderRevealButton(device) {
  const area = byId('reveal-area');
  if (!policy.self_service_recovery) {
    fill(area, el('p', { class: 'notice warn', text: 'Call the help desk to get this device\'s recovery password.' }));
    return;
  }
  const show = el('button', { type: 'button', id: 'show-password', text: 'Show recovery password' });
  show.addEventListener('click', () => confirmReveal(device));
  fill(area, show);
}

// Asks once more before the retrieval, because every retrieval is recorded
// and may make the device rotate its password.
function confirmReveal(device) {
  const area = byId('reveal-area');
  const yes = el('button', { type: 'button', id: 'confirm-show', text: 'Yes, show it' });
  const no = el('button', { type: 'button', class: 'secondary', text: 'Cancel' });
  no.addEventListener('click', () => renderRevealButton(device));
  yes.addEventListener('click', () => whileBusy(yes, () => reveal(device.device_id)));
  fill(area, el('div', { class: 'notice', role: 'alertdialog', 'aria-label': 'Confirm' },
    el('p', { text: 'Show the recovery password of ' + device.device_id + '? The retrieval is recorded in the audit ledger with your name.' }),
    el('div', { class: 'row' }, yes, no)));
  yes.focus();
}

async function reveal(deviceId) {
  const area = byId('reveal-area');
  try {
    const reply = await api('POST', devicePath(deviceId, '/recovery-password:retrieve'), { channel: 'portal' });
    const hide = el('button', { type: 'button', class: 'secondary', text: 'Hide the password' });
    hide.addEventListener('click', () => openDevice(deviceId));
    fill(area, passwordView(reply.recovery_password, deviceId),
         el('p', { class: 'hint', text: 'Status: ' + reply.status + '. Recorded as audit entry ' + reply.audit_seq + '.' }),
         hide);
    byId('copy-password').focus();
    myRetrievals = (await api('GET', '/v1/me/retrievals')).retrievals;
    renderRetrievals(deviceId);
  } catch (error) {
    showError(area, error, 'Showing the recovery password');
  }
}

function renderRetrievals(deviceId) {
  const rows = myRetrievals.filter((r) => r.device_id === deviceId);
  if (rows.length === 0) {
    fill(byId('retrieval-list'), el('p', { text: 'Nobody has retrieved this device\'s recovery password.' }));
    return;
  }
  fill(byId('retrieval-list'), table([
    { title: 'Who', value: (r) => r.actor },
    { title: 'When', value: (r) => timeElement(r.time) },
    { title: 'Channel', value: (r) => r.channel },
    { title: 'Outcome', value: (r) => r.outcome },
  ], rows));
}

// Sends POST /v1/me/password. The server revokes every session of the
// account, including this one, and returns a fresh session, which replaces
// the stored one as sign-in does. The inputs are cleared after every attempt.
async function changePassword(event) {
  event.preventDefault();
  const current = byId('current-password');
  const fresh = byId('new-password');
  const confirmation = byId('confirm-password');
  const status = byId('change-password-status');
  const body = { current_password: current.value, new_password: fresh.value };
  const matches = fresh.value === confirmation.value;
  for (const input of [current, fresh, confirmation]) input.value = '';
  if (!matches) {
    fill(status, el('p', { class: 'error', role: 'alert',
      text: 'The new password and its confirmation differ. Type the same new password twice.' }));
    fresh.focus();
    return;
  }
  await whileBusy(byId('change-password-button'), async () => {
    try {
      const reply = await api('POST', '/v1/me/password', body);
      saveSession(reply);
      fill(status, el('p', { class: 'success', role: 'status', id: 'change-password-done',
        text: 'Password changed. Your other sessions are signed out.' }));
    } catch (error) {
      showError(status, error, 'Changing the password');
    }
  });
}

if (session) {
  byId('change-password-form').addEventListener('submit', changePassword);
  loadPortal();
}
