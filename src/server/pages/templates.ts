import type { ScopeDefinition } from '../../store/records.js';
import { html, page } from './html.js';

export function loginPage(input: { returnTo: string; csrf: string; username?: string; error?: string }): string {
  return page(
    'Sign in',
    html`<h1>Sign in</h1>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
<form method="post" action="/login">
  <input type="hidden" name="csrf_token" value="${input.csrf}">
  <input type="hidden" name="return_to" value="${input.returnTo}">
  <label for="username">Username</label>
  <input type="text" id="username" name="username" autocomplete="username" required autofocus value="${input.username ?? ''}">
  <label for="password">Password</label>
  <input type="password" id="password" name="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>`,
  );
}

export function consentPage(input: { clientName: string; apiName: string; scopes: ScopeDefinition[]; username: string; interactionId: string; csrf: string }): string {
  return page(
    'Authorize',
    html`<h1>${input.clientName} wants access to your account</h1>
<p>Signed in as <strong>${input.username}</strong>. If you approve, <strong>${input.clientName}</strong> will be able to, at ${input.apiName}:</p>
<ul class="scopes">${input.scopes.map((s) => html`<li><strong>${s.description}</strong> <span class="muted">(${s.value})</span></li>`)}</ul>
<form method="post" action="/consent">
  <input type="hidden" name="csrf_token" value="${input.csrf}">
  <input type="hidden" name="interaction" value="${input.interactionId}">
  <button type="submit" name="decision" value="approve">Approve</button>
  <button type="submit" name="decision" value="deny">Deny</button>
</form>
<p class="muted">You can revoke this access at any time from your account page.</p>`,
  );
}

export interface AuthorizedApp {
  clientId: string;
  clientName: string;
  grants: { apiName: string; scopes: ScopeDefinition[] }[];
}

/** A third-party account the user connected through the broker. */
export interface ConnectedAccount {
  providerName: string;
  appId: string | null;
  status: string;
  account: string | null;
}

export function accountPage(input: { username: string; apps: AuthorizedApp[]; connections: ConnectedAccount[]; csrf: string }): string {
  return page(
    'Your account',
    html`<h1>Your account</h1>
<p>Signed in as <strong>${input.username}</strong>.</p>
<h2>Authorized applications</h2>
${
  input.apps.length === 0
    ? html`<p class="muted">You have not authorized any application.</p>`
    : html`<table><thead><tr><th>Application</th><th>Access</th><th></th></tr></thead><tbody>${input.apps.map(
        (app) => html`<tr><td>${app.clientName}</td><td>${app.grants.map(
          (g) => html`<div>${g.apiName}: ${g.scopes.map((s) => s.description).join(', ')}</div>`,
        )}</td><td><form method="post" action="/account/apps/revoke"><input type="hidden" name="csrf_token" value="${input.csrf}"><input type="hidden" name="client_id" value="${app.clientId}"><button type="submit">Revoke</button></form></td></tr>`,
      )}</tbody></table>`
}
<h2>Connected accounts</h2>
${
  input.connections.length === 0
    ? html`<p class="muted">You have not connected any account.</p>`
    : html`<table><thead><tr><th>Provider</th><th>Account</th><th>Status</th><th></th></tr></thead><tbody>${input.connections.map(
        (c) => html`<tr><td>${c.providerName}${c.appId ? ` (${c.appId})` : ''}</td><td>${c.account ?? '-'}</td><td>${c.status}</td><td><form method="post" action="/account/connections/revoke"><input type="hidden" name="csrf_token" value="${input.csrf}"><input type="hidden" name="provider_name" value="${c.providerName}">${
          c.appId ? html`<input type="hidden" name="app_id" value="${c.appId}">` : ''
        }<button type="submit">Disconnect</button></form></td></tr>`,
      )}</tbody></table>`
}
<form method="post" action="/logout"><input type="hidden" name="csrf_token" value="${input.csrf}"><button type="submit">Sign out</button></form>`,
  );
}

export function messagePage(title: string, message: string): string {
  return page(title, html`<h1>${title}</h1><p>${message}</p>`);
}
