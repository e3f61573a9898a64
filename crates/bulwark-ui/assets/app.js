// Bulwark's web UI script. Every action it takes is a call of the /v1 API, made by this
// browser with its own session cookie and CSRF token: run, pause, cancel, restore, sign in
// and out. It also keeps pages current without a reload: parts marked data-refresh are
// re-read from the server, and a running task's log follows /v1/task/{uuid}/log from the
// byte it has, so a dropped connection resumes where it stopped. Text from the server is
// only ever inserted as text, never as HTML.

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content ?? '';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function notice(text) {
  const n = document.getElementById('notice');
  if (!n) return;
  n.textContent = text;
  n.hidden = !text;
}

async function call(method, url, body) {
  const headers = { 'X-CSRF-Token': csrf() };
  const init = { method, credentials: 'same-origin', headers };
  if (method !== 'GET' && method !== 'DELETE') {
    headers['Content-Type'] = 'application/json';
    init.body = body ?? '{}';
  }
  const res = await fetch(url, init);
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok) throw new Error(data?.error ?? `${res.status} ${res.statusText}`);
  return data;
}

document.addEventListener('click', async (e) => {
  const b = e.target.closest('button[data-post]');
  if (b) {
    e.preventDefault();
    b.disabled = true;
    notice('');
    try {
      const d = await call(b.dataset.method ?? 'POST', b.dataset.post, b.dataset.body);
      if ('follow' in b.dataset && d?.task_uuid) location.assign(`/tasks/${d.task_uuid}`);
      else if (b.dataset.then) location.assign(b.dataset.then);
      else location.reload();
    } catch (err) {
      notice(err.message);
      b.disabled = false;
    }
    return;
  }
  if (e.target.closest('[data-signout]')) {
    try { await call('POST', '/v1/auth/logout', '{}'); } catch { /* signed out anyway */ }
    location.assign('/login');
  }
});

// Forms of targets and stores: the endpoint is gathered field by field as the plugin's info
// types them; a stored secret left empty is sent as <redacted>, which keeps it.
function endpointOf(form) {
  const ep = {};
  for (const el of form.querySelectorAll('[data-endpoint]')) {
    const key = el.dataset.endpoint;
    const type = el.dataset.type;
    if (type === 'bool') {
      if (el.checked) ep[key] = true;
    } else if (type === 'list') {
      const items = el.value.split('\n').map((v) => v.trim()).filter((v) => v);
      if (items.length) ep[key] = items;
    } else if (el.value === '') {
      if ('kept' in el.dataset) ep[key] = '<redacted>';
    } else if (type === 'port' || type === 'number') {
      ep[key] = Number(el.value);
    } else {
      ep[key] = el.value;
    }
  }
  return ep;
}

function showValidation(v) {
  const out = document.getElementById('validated');
  if (!out) return;
  const ok = v.valid === true;
  out.className = `status ${ok ? 'ok' : v.valid === false ? 'bad' : 'warn'}`;
  out.textContent = `${ok ? '✓ It works' : v.valid === false ? '✗ It does not work' : '! Unknown (the plugin cannot check)'}: ${v.output || v.exit}`;
}

for (const form of document.querySelectorAll('form[data-api-form]')) {
  const kind = form.dataset.kind;
  const uuid = form.dataset.uuid;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    notice('');
    const body = { plugin: form.dataset.plugin, endpoint: endpointOf(form) };
    for (const el of form.querySelectorAll('[data-field]')) body[el.dataset.field] = el.value;
    try {
      const made = uuid
        ? await call('PUT', `/v1/${kind}/${uuid}`, JSON.stringify(body))
        : await call('POST', `/v1/${kind}s`, JSON.stringify(body));
      location.assign(`/${kind}s/${uuid || made.uuid}`);
    } catch (err) {
      notice(err.message);
    }
  });
  form.querySelector('[data-validate]')?.addEventListener('click', async () => {
    try {
      showValidation(await call('POST', `/v1/plugin/${form.dataset.plugin}/validate`, JSON.stringify({ endpoint: endpointOf(form) })));
    } catch (err) { notice(err.message); }
  });
  const saved = form.querySelector('[data-validate-saved]');
  saved?.addEventListener('click', async () => {
    try { showValidation(await call('POST', saved.dataset.validateSaved, '{}')); } catch (err) { notice(err.message); }
  });
}

// Schedules and retention policies: plain fields; a number with data-scale is multiplied
// (days into seconds).
for (const form of document.querySelectorAll('form[data-plain-form]')) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    notice('');
    const body = {};
    for (const el of form.querySelectorAll('[data-field]')) {
      if (el.hasAttribute('data-optional') && el.value.trim() === '') continue;
      body[el.dataset.field] = el.dataset.scale ? Math.round(Number(el.value) * Number(el.dataset.scale))
        : el.type === 'number' ? Number(el.value) : el.value;
    }
    const uuid = form.dataset.uuid;
    try {
      const made = uuid
        ? await call('PUT', `${form.dataset.item}${uuid}`, JSON.stringify(body))
        : await call('POST', form.dataset.create, JSON.stringify(body));
      location.assign(`${form.dataset.list}${uuid || made.uuid}`);
    } catch (err) {
      notice(err.message);
    }
  });
}

// A retention policy's preview for one job: every archive, kept or purged, and why.
for (const b of document.querySelectorAll('button[data-preview]')) {
  b.addEventListener('click', async () => {
    const out = document.getElementById('preview');
    try {
      const p = await call('GET', b.dataset.preview);
      const table = document.createElement('table');
      const head = table.createTHead().insertRow();
      for (const h of ['Taken (UTC)', 'The sweep', 'Kept by', 'Could go at the earliest (UTC)']) {
        const th = document.createElement('th'); th.scope = 'col'; th.textContent = h; head.appendChild(th);
      }
      const body = table.createTBody();
      for (const a of p.archives) {
        const row = body.insertRow();
        for (const v of [a.taken_at, a.action, a.kept_by.join(', ') || '-', a.expires_at || 'while a count holds it']) {
          row.insertCell().textContent = v;
        }
      }
      const caption = table.createCaption();
      caption.textContent = `${p.rules}: keeps ${p.keep}, purges ${p.purge}`;
      out.replaceChildren(table);
    } catch (err) { notice(err.message); }
  });
}

// A schedule phrase is read by the API as it is typed.
const when = document.querySelector('input[data-check-when]');
if (when) {
  const out = document.getElementById('when-check');
  let timer = null;
  const check = async () => {
    if (!when.value.trim()) { out.textContent = ''; return; }
    try {
      const c = await call('GET', `/v1/schedules/check?when=${encodeURIComponent(when.value)}`);
      out.className = 'status ok';
      out.textContent = `✓ ${c.when}; next runs (UTC): ${c.next_runs.join(', ')}`;
    } catch (err) {
      out.className = 'status bad';
      out.textContent = `✗ ${err.message}`;
    }
  };
  when.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(check, 300); });
  check();
}

// A new API token: its secret is shown once, here.
const tokenForm = document.querySelector('form[data-token-form]');
tokenForm?.addEventListener('submit', async (e) => {
  e.preventDefault();
  notice('');
  const f = new FormData(tokenForm);
  const body = { name: f.get('name') };
  if (f.get('role')) body.role = f.get('role');
  if (f.get('days')) body.expires_in = Math.round(Number(f.get('days')) * 86400);
  try {
    const t = await call('POST', '/v1/auth/tokens', JSON.stringify(body));
    const out = document.getElementById('token-made');
    out.className = 'status ok';
    out.textContent = `Token ${t.name} made. Copy it now, it is not shown again: ${t.token}`;
  } catch (err) {
    notice(err.message);
  }
});

// Agents: approval with the fingerprint the agent's host prints, and enrollment tokens.
for (const form of document.querySelectorAll('form[data-approve]')) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    notice('');
    try {
      await call('POST', form.dataset.approve, JSON.stringify({ fingerprint: form.elements.fingerprint.value.trim() }));
      location.reload();
    } catch (err) {
      notice(err.message);
    }
  });
}
const agentTokenForm = document.querySelector('form[data-agent-token-form]');
agentTokenForm?.addEventListener('submit', async (e) => {
  e.preventDefault();
  notice('');
  const f = new FormData(agentTokenForm);
  const body = { address: f.get('address'), expires_in: Math.round(Number(f.get('hours') || 1) * 3600) };
  try {
    const t = await call('POST', '/v1/agent-tokens', JSON.stringify(body));
    const out = document.getElementById('agent-token-made');
    out.className = 'status ok';
    out.textContent = `Token for ${t.address}, single use until ${t.expires_at} UTC; it pins this core's key ${t.core_fingerprint}. Copy it now, it is not shown again: ${t.token}`;
  } catch (err) {
    notice(err.message);
  }
});

// An archive's notes.
const notesForm = document.querySelector('form[data-notes-form]');
notesForm?.addEventListener('submit', async (e) => {
  e.preventDefault();
  notice('');
  try {
    await call('PUT', `/v1/archive/${notesForm.dataset.archive}`, JSON.stringify({ notes: notesForm.elements.notes.value, keep: notesForm.elements.keep.checked }));
    location.reload();
  } catch (err) {
    notice(err.message);
  }
});

const login = document.querySelector('form[data-login]');
login?.addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = new FormData(login);
  notice('');
  try {
    await call('POST', '/v1/auth/login', JSON.stringify({ username: f.get('username'), password: f.get('password') }));
    location.assign('/');
  } catch (err) {
    notice(err.message);
  }
});

// A restore over the archive's own target is confirmed by typing the target's name.
for (const input of document.querySelectorAll('input[data-confirm-for]')) {
  const button = document.getElementById(input.dataset.confirmFor);
  const check = () => { button.disabled = input.value.trim() !== input.dataset.expect; };
  input.addEventListener('input', check);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !button.disabled) button.click();
  });
  check();
}

// Parts of a page that are read again from the server while it is open.
for (const el of document.querySelectorAll('[data-refresh][id]')) {
  const every = Math.max(2, Number(el.dataset.refresh) || 10) * 1000;
  setInterval(async () => {
    if (document.hidden || el.contains(document.activeElement)) return;
    try {
      const res = await fetch(location.href, { credentials: 'same-origin' });
      if (!res.ok || res.redirected) return;
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
      const fresh = doc.getElementById(el.id);
      if (fresh) el.replaceChildren(...fresh.childNodes);
    } catch { /* try again at the next turn */ }
  }, every);
}

// A task's state word, icon and colour, as the server renders them.
const TONES = {
  done: ['✓', 'ok'], failed: ['✗', 'bad'], canceled: ['!', 'warn'],
  running: ['▶', 'busy'], pending: ['…', 'busy'],
};

function badge(state) {
  const [icon, tone] = TONES[state] ?? ['–', 'idle'];
  const b = document.createElement('span');
  b.className = `badge ${tone}`;
  const i = document.createElement('span');
  i.setAttribute('aria-hidden', 'true');
  i.textContent = icon;
  b.append(i, ` ${state.charAt(0).toUpperCase()}${state.slice(1)}`);
  return b;
}

function human(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n; let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

async function watchTask(id) {
  const status = document.querySelector(`[data-task-status="${id}"]`);
  const moved = document.querySelector('[data-task-bytes]');
  const rate = document.querySelector('[data-task-rate]');
  let last = null;
  for (;;) {
    await sleep(1000);
    let t;
    try { t = await call('GET', `/v1/task/${id}`); } catch { continue; }
    status?.replaceChildren(badge(t.status));
    if (t.bytes !== null && t.bytes !== undefined && moved) {
      moved.textContent = human(t.bytes);
      const now = performance.now();
      if (last && rate) rate.textContent = `(${human(Math.max(0, (t.bytes - last.bytes) / ((now - last.at) / 1000)))}/s)`;
      last = { bytes: t.bytes, at: now };
    }
    if (!['pending', 'running'].includes(t.status)) {
      document.querySelector('[data-task-cancel]')?.remove();
      if (rate) rate.textContent = '';
      return;
    }
  }
}

async function followLog(log) {
  const id = log.dataset.logFor;
  let offset = Number(log.dataset.offset) || 0;
  const decoder = new TextDecoder();
  for (let tries = 0; tries < 10000; tries += 1) {
    try {
      const res = await fetch(`/v1/task/${id}/log?offset=${offset}&follow=t`, { credentials: 'same-origin' });
      if (!res.ok) throw new Error(String(res.status));
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        offset += value.length;
        const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        log.append(decoder.decode(value, { stream: true }));
        if (atEnd) log.scrollTop = log.scrollHeight;
      }
      return;
    } catch {
      await sleep(2000);
    }
  }
}

const log = document.querySelector('pre[data-log-for]');
if (log && log.dataset.live === 'true') {
  followLog(log);
  watchTask(log.dataset.logFor);
}
