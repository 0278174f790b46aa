// Owns: the dashboard's shell: who is asking (GET /whoami; a 401 brings the key form, the key then kept in
// sessionStorage for this tab only), the admin's tenant filter, the navigation and which page the hash names.
// Not here: the pages (overview.js, operations.js, operation.js, dead-letters.js, task-types.js), requests (api.js).

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, clearKey, getKey, getTenantFilter, onUnauthorized, request, setKey, setTenantFilter, setViewer } from './api.js';
import { DeadLetters } from './dead-letters.js';
import { OperationPage } from './operation.js';
import { OperationsList } from './operations.js';
import { Overview } from './overview.js';
import { TaskTypes } from './task-types.js';
import { ErrorNote, html, useDraft, useRoute } from './ui.js';

/** Whether the server takes requests only with an API key (the page it served says). */
const keysRequired = /** @type {HTMLMetaElement | null} */ (document.querySelector('meta[name="asyncops-keys"]'))?.content === 'required';

/** @typedef {{ tenant: string, admin: boolean }} Whoami */

/** How long after a failed first read of who this is (the server starting, unreachable) it is asked again. */
const WHOAMI_RETRY_MS = 3000;

const PAGES = [
  { path: '/', title: 'Overview' },
  { path: '/operations', title: 'Operations' },
  { path: '/dead-letters', title: 'Dead letters' },
  { path: '/task-types', title: 'Task types' },
];

/** What an API key is made of (the server's Bearer rule): a pasted one may carry more (a zero-width space), which no header can. */
const KEY_CHARACTERS = /^[\x21-\x7e]+$/;

/** @param {{ message: string | null, onKey: (key: string) => void }} props */
function KeyForm({ message, onKey }) {
  const [refused, setRefused] = useState(/** @type {string | null} */ (null));
  /** @param {SubmitEvent} event */
  const submit = (event) => {
    event.preventDefault();
    const key = String(new FormData(/** @type {HTMLFormElement} */ (event.currentTarget)).get('key') ?? '').trim();
    if (key === '') return;
    if (!KEY_CHARACTERS.test(key)) return setRefused('That is not an API key: it holds a character other than visible ASCII (pasted with it, perhaps).');
    // The server's answer to this one is `message`'s, not the refusal of the key before it.
    setRefused(null);
    onKey(key);
  };
  const shown = refused ?? message;
  return html`<section class="page key-form">
    <h1>asyncops dashboard</h1>
    <form onSubmit=${submit} data-testid="key-form">
      <p>This server needs an API key. It is kept in this browser tab only (sessionStorage), and sent as an <code>Authorization</code> header.</p>
      ${shown ? html`<p class="error" role="alert">${shown}</p>` : null}
      <label>API key <input type="password" name="key" autocomplete="off" size="40" required /></label>
      <button type="submit">Sign in</button>
    </form>
  </section>`;
}

/** @param {{ whoami: Whoami, onSignOut: () => void, onTenant: () => void }} props */
function Header({ whoami, onSignOut, onTenant }) {
  const route = useRoute();
  const { bind, values } = useDraft({ tenant: getTenantFilter() });
  /** @param {SubmitEvent} event */
  const applyTenant = (event) => {
    event.preventDefault();
    // A name pasted with a space around it names the tenant, not one no tenant can have (a 400 on every page).
    setTenantFilter((values().tenant ?? '').trim());
    onTenant();
  };
  const section = `/${route.path.split('/')[1] ?? ''}`;
  return html`<header class="top">
    <strong class="brand">asyncops</strong>
    <nav>
      ${PAGES.map((p) => html`<a href=${`#${p.path}`} class=${section === p.path ? 'active' : ''}>${p.title}</a>`)}
    </nav>
    <span class="who" data-testid="whoami">
      ${
        whoami.admin
          ? html`<form class="tenant-filter" onSubmit=${applyTenant}>
              <label>tenant <input ...${bind('tenant')} size="12" placeholder="all" /></label>
              <button type="submit" class="small">Filter</button>
            </form> <span class="badge admin">admin</span>`
          : html`tenant <strong>${whoami.tenant}</strong>`
      }
      ${getKey() === null ? null : html` <button type="button" class="secondary small" onClick=${onSignOut}>Sign out</button>`}
    </span>
  </header>`;
}

/**
 * A path segment as it was encoded; one that is not valid percent-encoding (a hand-edited or cut-off link) is taken as
 * written, so the page says the operation is not found instead of the whole app failing until a reload.
 * @param {string} segment
 */
function decodedSegment(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** @param {{ path: string, query: URLSearchParams }} props */
function Page({ path, query }) {
  const operation = /^\/operations\/([^/]+)$/.exec(path);
  const id = operation === null ? null : decodedSegment(operation[1] ?? '');
  // `.` and `..` are no id: a URL made with one would name another path (`/operations/../cancel` is `/cancel`).
  if (id !== null && id !== '.' && id !== '..') return html`<${OperationPage} key=${id} id=${id} />`;
  switch (path) {
    case '/':
      return html`<${Overview} />`;
    case '/operations':
      return html`<${OperationsList} key=${query.toString()} query=${query} />`;
    case '/dead-letters':
      return html`<${DeadLetters} query=${query} />`;
    case '/task-types':
      return html`<${TaskTypes} />`;
    default:
      return html`<section class="page"><h1>Not found</h1><p><a href="#/">Overview</a></p></section>`;
  }
}

function App() {
  const route = useRoute();
  const [whoami, setWhoami] = useState(/** @type {Whoami | null} */ (null));
  // A server with keys says so in the page: without one kept, the key form comes first (no 401 for the browser to log).
  const [needKey, setNeedKey] = useState(/** @type {string | null | false} */ (keysRequired && getKey() === null ? null : false));
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const [attempt, setAttempt] = useState(0);
  // Every page reads the tenant filter when it asks: a new filter mounts the page afresh.
  const [tenantEpoch, setTenantEpoch] = useState(0);

  useEffect(
    () =>
      onUnauthorized(() => {
        const hadKey = getKey() !== null;
        clearKey();
        // The next key may be a tenant's, to which another tenant's filter would be refused.
        setTenantFilter('');
        setWhoami(null);
        setNeedKey(hadKey ? 'That API key was not accepted.' : null);
      }),
    [],
  );
  useEffect(() => {
    if (keysRequired && getKey() === null) return;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let retry;
    request('/whoami').then(
      (who) => {
        // A tenant key's tenant is fixed: a filter left in this tab by an admin key (or by a key no longer admin) would
        // have every page refused, with no control shown to clear it.
        if (!who.admin) setTenantFilter('');
        setViewer(who);
        setWhoami(who);
        setNeedKey(false);
        setError(null);
      },
      (e) => {
        setViewer(null);
        // A 401 is the key form's (onUnauthorized); anything else is shown, and asked again (a server starting, a 503).
        if (e instanceof ApiError && e.status === 401) return;
        setError(e);
        retry = setTimeout(() => setAttempt((n) => n + 1), WHOAMI_RETRY_MS);
      },
    );
    return () => clearTimeout(retry);
  }, [attempt]);

  if (needKey !== false) {
    return html`<${KeyForm}
      message=${needKey}
      onKey=${(/** @type {string} */ key) => {
        setKey(key);
        setNeedKey(false);
        setAttempt((n) => n + 1);
      }}
    />`;
  }
  const signOut = () => {
    clearKey();
    setViewer(null);
    setTenantFilter('');
    setWhoami(null);
    setNeedKey(null);
  };
  if (whoami === null) {
    return html`<section class="page">
      ${error ? html`<${ErrorNote} error=${error} /><p class="muted">Asking again every few seconds.</p>` : html`<p class="muted">Loading…</p>`}
      ${error && keysRequired ? html`<button type="button" onClick=${signOut}>Sign out</button>` : null}
    </section>`;
  }
  return html`<${Header} whoami=${whoami} onSignOut=${signOut} onTenant=${() => setTenantEpoch((n) => n + 1)} />
    <main key=${tenantEpoch}><${Page} path=${route.path} query=${route.query} /></main>`;
}

const root = document.getElementById('app');
if (root !== null) {
  root.textContent = '';
  render(html`<${App} />`, root);
}
