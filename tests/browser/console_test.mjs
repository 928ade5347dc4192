// Drives the escrowd web console in Debian's headless Chromium.
//
// usage: node console_test.mjs BASE_URL FIXTURE_JSON SCREENSHOT_DIR
//
// BASE_URL is escrowd's API listener ("http://127.0.0.1:PORT" or https; TLS
// errors are ignored because the test CA is not in the browser's store).
// FIXTURE_JSON names the accounts and devices the ctest wrapper created:
//   {"owner": {"username", "password", "device"},
//    "other_owner": {"username", "password", "device"},
//    "helpdesk": {"username", "password"}, "auditor": {...}, "admin": {...}}
//
// Every step saves a screenshot in SCREENSHOT_DIR. The script prints one JSON
// line per revealed password, {"step", "device", "password"}, so the wrapper
// can compare it with the password the device escrowed; it exits 1 on the
// first failed check with the reason on stderr.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const kChromium = '/usr/bin/chromium';
const kActionTimeoutMs = 10000;
const kPhoneViewport = { width: 375, height: 812 };
const kDesktopViewport = { width: 1200, height: 900 };
// Markup that must stay text: if the page ever parsed it, window.__xss would be set.
const kMarkupReason = 'TICKET-42 <b>bold</b><script>window.__xss=1</script>';
const kMarkupDeviceId = '<script>window.__xss=2</script>';
// The browser's time zone: UTC+05:30, so a time shown in local time would
// differ from the API's UTC time in both hours and minutes.
const kBrowserTimeZone = 'Asia/Kolkata';
// The pages behind sign-in, with their titles, in the order of the top bar.
const kSignedInPages = [
  { file: 'portal.html', title: 'My devices' },
  { file: 'helpdesk.html', title: 'Help desk' },
  { file: 'admin.html', title: 'Admin' },
  { file: 'audit.html', title: 'Audit' },
];

const [baseUrl, fixturePath, screenshotDir] = process.argv.slice(2);
if (!baseUrl || !fixturePath || !screenshotDir) {
  console.error('usage: node console_test.mjs BASE_URL FIXTURE_JSON SCREENSHOT_DIR');
  process.exit(2);
}
const fixture = JSON.parse(readFileSync(fixturePath, 'utf8'));
const origin = new URL(baseUrl).origin;

class CheckFailed extends Error {}

function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

function report(step, device, password) {
  console.log(JSON.stringify({ step, device, password }));
}

// Opens a fresh browser context (its own sessionStorage) that fails the test
// on any request to another origin or any Content-Security-Policy violation.
async function openPage(browser, viewport) {
  const context = await browser.newContext({ viewport, ignoreHTTPSErrors: true, timezoneId: kBrowserTimeZone });
  const page = await context.newPage();
  page.setDefaultTimeout(kActionTimeoutMs);
  page.problems = [];
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(origin + '/') && !url.startsWith('blob:') && !url.startsWith('data:')) {
      page.problems.push('request to another origin: ' + url);
    }
  });
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) {
      page.problems.push('CSP violation: ' + message.text());
    }
  });
  page.on('pageerror', (error) => page.problems.push('script error: ' + error.message));
  return page;
}

async function finishPage(page) {
  check(page.problems.length === 0, page.problems.join('; '));
  await page.context().close();
}

async function screenshot(page, name) {
  await page.screenshot({ path: path.join(screenshotDir, name + '.png'), fullPage: true });
}

// Signs in through the form. With byKeyboard the form is reached and sent
// with Tab, typing and Enter only.
async function signIn(page, account, expectedPage, byKeyboard = false) {
  await page.goto(baseUrl + '/console/');
  if (byKeyboard) {
    await page.keyboard.press('Tab');
    check(await page.evaluate(() => document.activeElement.id) === 'username',
          'the first Tab does not reach the user name field');
    await page.keyboard.type(account.username);
    await page.keyboard.press('Tab');
    await page.keyboard.type(account.password);
    await page.keyboard.press('Enter');
  } else {
    await page.getByLabel('User name').fill(account.username);
    await page.getByLabel('Password').fill(account.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }
  await page.waitForURL('**/' + expectedPage);
  await page.locator('#signed-in-as').waitFor();
}

// Returns the digits shown in #recovery-password as "12345-67890-12345-67890".
async function shownPassword(page) {
  const groups = await page.locator('#recovery-password span').allTextContents();
  check(groups.length === 4, 'expected 4 digit groups, got ' + groups.length);
  for (const group of groups) check(/^[0-9]{5}$/.test(group), 'digit group "' + group + '" is not 5 digits');
  return groups.join('-');
}

async function xssFlag(page) {
  return page.evaluate(() => window.__xss);
}

// Returns how the console shows an API time: "2026-12-05T01:02:03.5Z"
// becomes "2026-12-05 01:02:03 UTC".
function expectedTimeText(rfc3339) {
  check(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(rfc3339), 'the API time ' + rfc3339 + ' is not RFC 3339 UTC');
  return rfc3339.slice(0, 10) + ' ' + rfc3339.slice(11, 19) + ' UTC';
}

// Checks every <time> under selector: the text is "YYYY-MM-DD hh:mm:ss UTC"
// and matches its datetime attribute, which contains the API's value. Returns
// the number of times checked.
async function checkShownTimes(page, selector) {
  const times = await page.locator(selector + ' time').evaluateAll(
    (nodes) => nodes.map((node) => ({ text: node.textContent, datetime: node.getAttribute('datetime') })));
  for (const time of times) {
    check(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/.test(time.text),
          selector + ' shows the time "' + time.text + '", not "YYYY-MM-DD hh:mm:ss UTC"');
    check(time.text === expectedTimeText(time.datetime),
          selector + ' shows ' + time.text + ' for the API time ' + time.datetime);
  }
  return times.length;
}

// Sends GET path with the page's session and returns the parsed reply.
async function apiGet(page, path) {
  return page.evaluate(async (target) => {
    const { token } = JSON.parse(sessionStorage.getItem('escrow.session'));
    const response = await fetch(target, { headers: { Authorization: 'Bearer ' + token } });
    return response.json();
  }, path);
}

// Step 1: the owner signs in with the keyboard on a phone-sized screen and
// reveals a password.
async function ownerReveals(browser) {
  const { owner, other_owner: other } = fixture;
  const page = await openPage(browser, kPhoneViewport);
  await signIn(page, owner, 'portal.html', true);
  const list = page.locator('#device-list');
  await list.getByText(owner.device, { exact: true }).waitFor();
  check(!(await list.textContent()).includes(other.device), 'the owner sees ' + other.device);
  await screenshot(page, '01-owner-devices');

  await page.getByRole('button', { name: 'Open ' + owner.device }).click();
  await page.getByRole('button', { name: 'Show recovery password' }).click();
  await page.getByRole('button', { name: 'Yes, show it' }).click();
  await page.locator('#recovery-password').waitFor();
  const password = await shownPassword(page);
  const lockScreenSteps = await page.getByRole('region', { name: 'Recovery password' }).textContent();
  check(lockScreenSteps.includes('At the lock screen'), 'the lock-screen steps are missing');

  // The retrieval appears in the device's list with the owner and channel.
  const retrievals = page.locator('#retrieval-list');
  await retrievals.getByText('portal', { exact: true }).first().waitFor();
  check((await retrievals.textContent()).includes(owner.username), 'the retrieval does not name the owner');

  // Its time is shown in UTC and equals the API's time of the same retrieval.
  const mine = (await apiGet(page, '/v1/me/retrievals')).retrievals.filter((r) => r.device_id === owner.device);
  check(mine.length === 1, 'expected 1 retrieval of ' + owner.device + ', the API lists ' + mine.length);
  const shownTime = await retrievals.locator('tbody tr time').first().textContent();
  check(shownTime.endsWith(' UTC'), 'the retrieval time "' + shownTime + '" does not end in UTC');
  check(shownTime === expectedTimeText(mine[0].time),
        'the retrieval time is ' + shownTime + ' but the API says ' + mine[0].time);
  check(await checkShownTimes(page, '#retrieval-list') === 1, 'the retrieval list shows no time');

  // Phone width: neither the page nor a card scrolls sideways.
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  check(width <= kPhoneViewport.width, 'the portal is ' + width + ' px wide at 375 px');
  const wideCards = await page.evaluate(() => [...document.querySelectorAll('section.card')]
    .filter((card) => card.scrollWidth > card.clientWidth).map((card) => card.textContent.slice(0, 40)));
  check(wideCards.length === 0, 'cards scroll sideways at 375 px: ' + wideCards.join(' | '));
  await screenshot(page, '02-owner-password');
  report('owner_reveal', owner.device, password);
  await finishPage(page);
}

// Step 2: the owner cannot see or retrieve another owner's device.
async function ownerDeniedOtherDevice(browser) {
  const { owner, other_owner: other } = fixture;
  const page = await openPage(browser, kDesktopViewport);
  await signIn(page, owner, 'portal.html');
  await page.goto(baseUrl + '/console/helpdesk.html?device=' + encodeURIComponent(other.device));
  const error = page.locator('#device-state .error');
  await error.waitFor();
  check((await error.textContent()).includes('not one of your devices'),
        'opening another owner\'s device shows: ' + (await error.textContent()));
  await screenshot(page, '03-owner-denied');

  // The API itself refuses, whatever the page shows.
  const statuses = await page.evaluate(async (deviceId) => {
    const { token } = JSON.parse(sessionStorage.getItem('escrow.session'));
    const headers = { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' };
    const base = '/v1/devices/' + encodeURIComponent(deviceId);
    const read = await fetch(base, { headers });
    const retrieve = await fetch(base + '/recovery-password:retrieve',
                                 { method: 'POST', headers, body: JSON.stringify({ channel: 'portal' }) });
    return [read.status, retrieve.status];
  }, other.device);
  check(statuses[0] === 403 && statuses[1] === 403, 'another owner\'s device returned HTTP ' + statuses.join(', '));
  await finishPage(page);
}

// Step 3: the help desk retrieves another device's password with a reason.
async function helpdeskRetrieves(browser) {
  const { helpdesk, other_owner: other } = fixture;
  const page = await openPage(browser, kDesktopViewport);
  await signIn(page, helpdesk, 'helpdesk.html');
  await page.getByLabel('or owner (user name)').fill(other.username);
  await page.getByRole('button', { name: 'Find', exact: true }).click();
  await page.getByRole('button', { name: 'Open ' + other.device }).click();
  await page.locator('#timeline table').waitFor();

  // The reason is mandatory.
  await page.getByRole('button', { name: 'Retrieve', exact: true }).click();
  check(await page.locator('#recovery-password').count() === 0, 'a password was shown without a reason');

  await page.getByLabel('Reason (ticket id)').fill(kMarkupReason);
  await page.getByRole('button', { name: 'Retrieve', exact: true }).click();
  await page.locator('#recovery-password').waitFor();
  const password = await shownPassword(page);
  await page.locator('#timeline').getByText('RecoveryPasswordRetrieved').first().waitFor();
  const timelineTimes = await checkShownTimes(page, '#timeline');
  check(timelineTimes === await page.locator('#timeline tbody tr').count(), 'a timeline row has no time');
  await screenshot(page, '04-helpdesk-retrieval');
  report('helpdesk_reveal', other.device, password);

  // Shown once: hiding removes the digits from the page.
  await page.getByRole('button', { name: 'Hide the password' }).click();
  check(await page.locator('#recovery-password').count() === 0, 'the password is still on the page after Hide');
  check(await xssFlag(page) === undefined, 'markup in the reason ran as script');
  await finishPage(page);
}

// Step 4: the audit page lists the help desk's retrieval with its reason as
// text, draws the chart and verifies a fresh checkpoint.
async function auditorSeesRetrieval(browser) {
  const { auditor, helpdesk, other_owner: other } = fixture;
  const page = await openPage(browser, kDesktopViewport);
  await signIn(page, auditor, 'audit.html');
  await page.getByLabel('Device id').fill(other.device);
  await page.getByRole('button', { name: 'Show', exact: true }).click();
  const row = page.locator('#audit-records tr', { hasText: kMarkupReason }).last();
  await row.waitFor();
  const rowText = await row.textContent();
  check(rowText.includes(helpdesk.username) && rowText.includes('console'),
        'the audit row lacks the help-desk user or channel: ' + rowText);
  check(await page.locator('#audit-records script, #audit-records b').count() === 0,
        'the reason was parsed as markup');
  check(await xssFlag(page) === undefined, 'markup in the reason ran as script');
  check(await page.locator('#audit-chart svg rect.bar').count() > 0, 'the chart has no bars');

  // The row's time is the API's time of the same retrieval, shown in UTC.
  const records = (await apiGet(page, '/v1/audit?device=' + encodeURIComponent(other.device))).records;
  const record = records.filter((r) => r.reason === kMarkupReason).at(-1);
  check(record !== undefined, 'the API has no audit record with the reason');
  const rowTime = await row.locator('time').textContent();
  check(rowTime.endsWith(' UTC'), 'the audit time "' + rowTime + '" does not end in UTC');
  check(rowTime === expectedTimeText(record.time), 'the audit row shows ' + rowTime + ' but the API says ' + record.time);
  check(await checkShownTimes(page, '#audit-records') === records.length, 'an audit row has no time');

  // The legend names both series in text, and the chart points to it.
  const legend = page.locator('#audit-chart ul.legend');
  const legendText = await legend.textContent();
  check(legendText.includes('Blue bars: retrievals'), 'the legend does not name the retrievals: ' + legendText);
  check(legendText.includes('Red bars, stacked on top: denied retrievals'),
        'the legend does not name the denied retrievals: ' + legendText);
  const chart = page.locator('#audit-chart svg');
  check(await chart.getAttribute('aria-describedby') === await legend.getAttribute('id'),
        'the chart is not described by its legend');
  const axisLabels = await chart.locator('text.axis-label').allTextContents();
  check(axisLabels.includes('Day (UTC, month-day)'), 'the day axis is not labelled UTC: ' + axisLabels.join(' | '));
  const barLabels = await chart.locator('rect.bar').evaluateAll((bars) => bars.map((bar) => bar.getAttribute('aria-label')));
  const today = record.time.slice(0, 10);
  const todayLabel = new RegExp('^' + today + ' \\(UTC\\): [1-9][0-9]* retrievals?$');
  check(barLabels.some((label) => todayLabel.test(label)),
        'no bar is described as the retrievals of ' + today + ': ' + barLabels.join(' | '));

  // Both exports contain the retrieval.
  for (const [button, name] of [['Export CSV', 'escrow-audit.csv'], ['Export JSON lines', 'escrow-audit.jsonl']]) {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: button }).click(),
    ]);
    check(download.suggestedFilename() === name, button + ' saved ' + download.suggestedFilename());
    const text = readFileSync(await download.path(), 'utf8');
    check(text.includes(other.device) && text.includes(helpdesk.username),
          button + ' lacks the retrieval: ' + text.slice(0, 300));
    check(text.includes(record.time), button + ' does not keep the API time ' + record.time);
  }

  // A fresh checkpoint covers the retrieval, and the page verifies its last entry.
  await page.locator('#verification table').waitFor();
  await page.getByRole('button', { name: 'Write a checkpoint now' }).click();
  const verdict = page.locator('#verification-result.success', { hasText: 'Verified through seq' });
  await verdict.waitFor();
  const status = await page.locator('#verification table').textContent();
  const entries = status.match(/Ledger entries(\d+)/);
  const verified = status.match(/Last verified seq(\d+)/);
  check(entries && verified && entries[1] === verified[1],
        'the fresh checkpoint does not cover the whole ledger: ' + status);
  check(await checkShownTimes(page, '#verification') === 2, 'the newest entry or the checkpoint has no time');
  await screenshot(page, '05-audit');
  await finishPage(page);
}

// Step 5: a device id with <script> in it is shown as text, in an error and
// in a page heading built from the address bar.
async function markupDeviceIdIsText(browser) {
  const { admin, owner } = fixture;
  const page = await openPage(browser, kDesktopViewport);
  await signIn(page, admin, 'admin.html');
  await page.getByLabel('Device id').first().fill(kMarkupDeviceId);
  await page.getByLabel('Owner (user name)').fill(owner.username);
  await page.getByRole('button', { name: 'Register' }).click();
  const error = page.locator('#register-result .error');
  await error.waitFor();
  check((await error.textContent()).includes('<script>'), 'the rejected id is not shown as text');
  await screenshot(page, '06-admin-markup-id');

  await page.goto(baseUrl + '/console/helpdesk.html?device=' + encodeURIComponent(kMarkupDeviceId));
  await page.locator('#device-state .error').waitFor();
  const title = await page.locator('#device-title').textContent();
  check(title === 'Device ' + kMarkupDeviceId, 'the heading shows "' + title + '"');
  check(await page.locator('main script').count() === 0, 'a script element was added to the page');
  check(await xssFlag(page) === undefined, 'the device id ran as script');
  await screenshot(page, '07-helpdesk-markup-id');
  await finishPage(page);
}

// Step 6: every page behind sign-in has the same header, with the brand,
// links to the four pages (the current one marked), the user and Sign out.
async function headerOnEveryPage(browser) {
  const { admin } = fixture;
  const page = await openPage(browser, kPhoneViewport);
  await page.goto(baseUrl + '/console/');
  check(await page.locator('header.bar .brand').textContent() === 'Escrow Ledger', 'the sign-in page has no header');
  await signIn(page, admin, 'admin.html');
  const titles = kSignedInPages.map((entry) => entry.title);
  for (const { file, title } of kSignedInPages) {
    await page.goto(baseUrl + '/console/' + file);
    await page.locator('#signed-in-as').waitFor();
    check(await page.locator('header.bar').count() === 1, file + ' does not have exactly one header');
    check(await page.title() === title + ' - Escrow Ledger', file + ' has the title "' + await page.title() + '"');
    check(await page.locator('main h1').textContent() === title, file + ' has the wrong heading');
    check(await page.locator('header.bar .brand').textContent() === 'Escrow Ledger', file + ' has no brand');
    const links = await page.locator('header.bar nav a').allTextContents();
    check(links.join('|') === titles.join('|'), file + ' links to ' + links.join(', '));
    const current = await page.locator('header.bar nav a[aria-current="page"]').textContent();
    check(current === title, file + ' marks ' + current + ' as the current page');
    check((await page.locator('#signed-in-as').textContent()).startsWith(admin.username + ' ('),
          file + ' does not name the signed-in user');
    check(await page.getByRole('button', { name: 'Sign out' }).count() === 1, file + ' has no Sign out button');
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    check(width <= kPhoneViewport.width, file + ' is ' + width + ' px wide at 375 px');
    await screenshot(page, '08-header-' + file.replace('.html', ''));
    if (file === 'audit.html') {
      await page.locator('#audit-chart svg rect.bar').first().waitFor();
      await page.locator('#audit-chart').screenshot({ path: path.join(screenshotDir, '08-header-audit-chart.png') });
    }
  }

  // The admin page's account list shows creation times in UTC.
  await page.goto(baseUrl + '/console/admin.html');
  await page.locator('#account-list table').waitFor();
  check(await checkShownTimes(page, '#account-list') > 0, 'the account list shows no creation time');
  await finishPage(page);
}

// Step 7: the admin turns self-service recovery off in the policy form, and
// the portal then sends the owner to the help desk.
async function selfServiceOff(browser) {
  const { admin, owner } = fixture;
  const adminPage = await openPage(browser, kDesktopViewport);
  await signIn(adminPage, admin, 'admin.html');
  const box = adminPage.getByLabel('Self-service recovery');
  await adminPage.waitForFunction(() => document.getElementById('policy-interval').value !== '');
  check(await box.isChecked(), 'self-service recovery starts off');
  await box.uncheck();
  await adminPage.getByRole('button', { name: 'Save policy' }).click();
  await adminPage.locator('#policy-status .success').waitFor();
  await finishPage(adminPage);

  const page = await openPage(browser, kPhoneViewport);
  await signIn(page, owner, 'portal.html');
  const notice = page.locator('#self-service-off');
  await notice.waitFor();
  check((await notice.textContent()).includes('call the help desk'), 'the notice does not name the help desk');
  await page.getByRole('button', { name: 'Open ' + owner.device }).click();
  await page.locator('#device-state-text').waitFor();
  check(await page.getByRole('button', { name: 'Show recovery password' }).count() === 0,
        'the portal offers the password while self-service recovery is off');
  await screenshot(page, '09-owner-self-service-off');
  await finishPage(page);
}

// Fills the sign-in form with a password that must fail and returns the
// error the page shows.
async function signInError(page, username, password) {
  await page.goto(baseUrl + '/console/');
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const error = page.locator('#signin-status .error');
  await error.waitFor();
  check(page.url().endsWith('/console/'), 'a failed sign-in left the sign-in page for ' + page.url());
  return error.textContent();
}

async function passwordFieldValues(page, ids) {
  return page.evaluate((fields) => fields.map((id) => document.getElementById(id).value), ids);
}

// Step 8: the owner changes the password in the portal and signs in again
// with it. The admin resets another account's password, and that account
// signs in with the new one. This step runs last because both old passwords
// stop working.
async function passwordChangeAndReset(browser) {
  const { admin, owner, other_owner: other } = fixture;
  const ownerNewPassword = owner.password + '-changed';
  const otherNewPassword = other.password + '-reset';
  const changeFields = ['current-password', 'new-password', 'confirm-password'];
  const page = await openPage(browser, kDesktopViewport);
  await signIn(page, owner, 'portal.html');
  const oldToken = await page.evaluate(() => JSON.parse(sessionStorage.getItem('escrow.session')).token);
  const status = page.locator('#change-password-status');
  const fillChange = async (current, fresh, confirmation) => {
    await page.getByLabel('Current password').fill(current);
    await page.getByLabel('New password (8 to 1024 characters)').fill(fresh);
    await page.getByLabel('Confirm new password').fill(confirmation);
    await page.getByRole('button', { name: 'Change password' }).click();
  };

  // A confirmation that differs is rejected in the page, and the inputs are cleared.
  await fillChange(owner.password, ownerNewPassword, ownerNewPassword + 'x');
  await status.locator('.error', { hasText: 'confirmation differ' }).waitFor();
  check((await passwordFieldValues(page, changeFields)).join('') === '', 'the inputs keep text after a mismatch');

  // A wrong current password shows the API's message.
  await fillChange(owner.password + 'x', ownerNewPassword, ownerNewPassword);
  const wrong = status.locator('.error');
  await wrong.filter({ hasText: 'current_password' }).waitFor();
  check((await wrong.textContent()).includes('does not match the account\'s password'),
        'a wrong current password shows: ' + await wrong.textContent());
  check((await passwordFieldValues(page, changeFields)).join('') === '', 'the inputs keep text after a failure');

  // The change succeeds, the page keeps working with the fresh token, and the old token is revoked.
  await fillChange(owner.password, ownerNewPassword, ownerNewPassword);
  const done = page.locator('#change-password-done');
  await done.waitFor();
  check(await done.textContent() === 'Password changed. Your other sessions are signed out.',
        'the change reports: ' + await done.textContent());
  check((await passwordFieldValues(page, changeFields)).join('') === '', 'the inputs keep text after the change');
  const newToken = await page.evaluate(() => JSON.parse(sessionStorage.getItem('escrow.session')).token);
  check(newToken !== oldToken, 'the stored session token did not change');
  check(Array.isArray((await apiGet(page, '/v1/me/retrievals')).retrievals), 'the fresh token does not work');
  const oldTokenStatus = await page.evaluate(async (token) => {
    const response = await fetch('/v1/me/retrievals', { headers: { Authorization: 'Bearer ' + token } });
    return response.status;
  }, oldToken);
  check(oldTokenStatus === 401, 'the old token returned HTTP ' + oldTokenStatus);
  await screenshot(page, '10-owner-password-changed');

  // Sign out; the old password fails and the new one opens the portal.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL('**/index.html');
  const oldError = await signInError(page, owner.username, owner.password);
  check(oldError === 'Wrong user name or password.', 'the old password shows: ' + oldError);
  await signIn(page, { username: owner.username, password: ownerNewPassword }, 'portal.html');
  await finishPage(page);

  // The admin resets the other owner's password from the accounts table.
  const adminPage = await openPage(browser, kDesktopViewport);
  await signIn(adminPage, admin, 'admin.html');
  await adminPage.getByRole('button', { name: 'Reset password of ' + other.username, exact: true }).click();
  check(await adminPage.evaluate(() => document.activeElement.id) === 'reset-new-password',
        'the reset form does not take the focus');
  await adminPage.getByLabel('New password for ' + other.username + ' (8 to 1024 characters)', { exact: true })
    .fill(otherNewPassword);
  await adminPage.getByLabel('Confirm new password for ' + other.username, { exact: true }).fill(otherNewPassword);
  await adminPage.keyboard.press('Enter');
  const reset = adminPage.locator('#reset-password-area .success');
  await reset.waitFor();
  check(await reset.textContent() === 'Password of ' + other.username + ' reset; its sessions are signed out.',
        'the reset reports: ' + await reset.textContent());
  await screenshot(adminPage, '11-admin-password-reset');
  await finishPage(adminPage);

  const otherPage = await openPage(browser, kDesktopViewport);
  const otherOldError = await signInError(otherPage, other.username, other.password);
  check(otherOldError === 'Wrong user name or password.', 'the reset account\'s old password shows: ' + otherOldError);
  await signIn(otherPage, { username: other.username, password: otherNewPassword }, 'portal.html');
  await otherPage.locator('#device-list').getByText(other.device, { exact: true }).waitFor();
  await finishPage(otherPage);
}

async function main() {
  // Playwright starts Chromium with a fresh temporary profile (--user-data-dir)
  // and removes it on close; it rejects a --user-data-dir in args.
  const browser = await chromium.launch({
    executablePath: kChromium,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const steps = [ownerReveals, ownerDeniedOtherDevice, helpdeskRetrieves, auditorSeesRetrieval,
                 markupDeviceIdIsText, headerOnEveryPage, selfServiceOff, passwordChangeAndReset];
  try {
    for (const step of steps) {
      const started = Date.now();
      await step(browser);
      console.error('ok ' + step.name + ' (' + (Date.now() - started) + ' ms)');
    }
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error('FAILED: ' + (error instanceof CheckFailed ? error.message : error.stack));
  process.exit(1);
});
