// The demo page: a chat that speaks Open WebUI's protocol over the official socket.io-client.
// Events arrive as Socket.IO event `events` = {chat_id, message_id, data: {type, data}} and are
// applied the way Open WebUI's Chat.svelte applies them; dialogs and `execute` answer the
// server's acknowledgement, which is what the plugin's `__event_call__` returns.

import { MESSAGE_EVENTS, newMessage } from './messages.js';
import { el, renderMessage } from './render.js';

const $ = (id) => document.getElementById(id);
const LEVELS = new Set(['info', 'success', 'warning', 'error']);
const INPUT_TYPES = new Set(['text', 'password', 'email', 'number', 'url', 'tel']);
const TOAST_MS = window.eventwireToastMs ?? 6000; // tests keep toasts until they look

const state = {
  token: null,
  user: null,
  socket: null,
  chatId: null,
  messages: new Map(), // message id -> message, in arrival order
  dialogs: [], // __event_call__ dialogs waiting for the one on screen
  dialog: null, // the one on screen
};
// For developers poking at the page (and the browser tests): every event as received.
window.eventwire = { state, received: [] };

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function detailOf(body, response) {
  const detail = body?.detail;
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) return detail.map((e) => `${(e.loc ?? []).join('.')}: ${e.msg}`).join('; ');
  return `${response.status} ${response.statusText}`;
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(detailOf(data, response));
    error.status = response.status;
    throw error;
  }
  return data;
}

// -- signing in -------------------------------------------------------------------------

function claimsOf(token) {
  // Only to show who is signed in: the edge verifies the token.
  try {
    return JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  } catch {
    return null;
  }
}

function showLoginError(text) {
  $('login-error').textContent = text;
  $('login-error').hidden = !text;
}

async function devLogin(name) {
  const response = await fetch('/api/dev/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(detailOf(body, response));
  return body.token;
}

function start(token) {
  const claims = claimsOf(token);
  if (!claims?.id) {
    showLoginError('That is not an eventwire token.');
    return;
  }
  state.token = token;
  state.user = claims;
  state.chatId = `demo-${claims.id}`; // every tab of a user shows the same chat
  sessionStorage.setItem('eventwire.token', token);
  showLoginError('');
  $('login').hidden = true;
  $('chat').hidden = false;
  $('sign-out').hidden = false;
  connect();
  loadModels();
  $('prompt').focus();
}

function signOut(why) {
  sessionStorage.removeItem('eventwire.token');
  state.socket?.disconnect();
  state.socket = null;
  state.token = null;
  state.messages.clear();
  $('messages').replaceChildren();
  $('chat-title').textContent = 'New chat';
  setTags([]);
  $('chat').hidden = true;
  $('sign-out').hidden = true;
  $('login').hidden = false;
  setConn('signed-out', 'signed out');
  showLoginError(why ?? '');
}

// -- the socket -------------------------------------------------------------------------

function setConn(stateName, text) {
  $('conn').dataset.state = stateName;
  $('conn').textContent = text;
}

function connect() {
  if (typeof io !== 'function') {
    banner('The Socket.IO client is missing: run `make` (it copies socket.io-client from npm).');
    return;
  }
  const socket = io(window.location.origin, {
    path: '/ws/socket.io',
    auth: { token: state.token },
    transports: ['websocket'],
  });
  state.socket = socket;
  setConn('connecting', 'connecting…');
  socket.on('connect', () => {
    setConn('connected', `${state.user.name ?? state.user.id} · session ${socket.id}`);
    $('conn').dataset.sid = socket.id;
  });
  socket.on('disconnect', (reason) => {
    setConn('disconnected', `disconnected (${reason})`);
    dropDialogs(); // closed: answered client_disconnected; dropped: asked again on reconnect
  });
  socket.on('connect_error', (error) => {
    if (error.data?.code === 'invalid_token') signOut(`Signed out: ${error.message}`);
    else setConn('disconnected', `cannot connect: ${error.message}`);
  });
  socket.on('events', onEvent);
  socket.on('error', (error) => toast('error', `${error.code}: ${error.message}`));
}

async function loadModels() {
  const select = $('model');
  select.replaceChildren(el('option', '', 'loading models…'));
  try {
    const { data } = await api('GET', '/api/models');
    if (!data.length) throw new Error('the worker has no pipes');
    select.replaceChildren(
      ...data.map((m) => {
        const option = el('option', '', m.name && m.name !== m.id ? `${m.name} (${m.id})` : m.id);
        option.value = m.id;
        return option;
      }),
    );
    if (data.some((m) => m.id === 'showcase')) select.value = 'showcase';
  } catch (error) {
    const option = el('option', '', `no models: ${error.message}`);
    option.value = '';
    select.replaceChildren(option);
  }
}

// -- events, as Open WebUI's chatEventHandler applies them -----------------------------

async function onEvent(event, last) {
  // A call's last argument is its answer callback; an emitted event's, with recovery on, is
  // its offset (a string socket.io-client keeps for reconnecting): never called.
  const ack = typeof last === 'function' ? last : undefined;
  window.eventwire.received.push(event);
  const type = event?.data?.type ?? null;
  const data = event?.data?.data ?? null;
  switch (type) {
    case 'notification':
      return toast(data?.type, data?.content ?? '');
    case 'confirmation':
    case 'input':
      return ask(type, data ?? {}, ack);
    case 'execute':
      return execute(data?.code ?? '', ack);
    case 'chat:title':
      return setTitle(typeof data === 'string' ? data : data?.title);
    case 'chat:tags':
      return setTags(Array.isArray(data) ? data : (data?.tags ?? []));
  }
  const apply = MESSAGE_EVENTS[type];
  if (!apply) {
    console.log('eventwire: unknown event type', type, data);
    return;
  }
  // Open WebUI applies events to messages of the open chat only; this page has no chat
  // store, so it shows every message of its user, including those another tab started.
  const message = ensureMessage(event.message_id ?? '-', event.chat_id);
  apply(message, data);
  if (type === 'chat:completion' && data?.title) setTitle(data.title);
  render(message);
}

function setTitle(title) {
  if (!title) return;
  $('chat-title').textContent = title;
  document.title = `${title} · eventwire`;
}

function setTags(tags) {
  $('chat-tags').replaceChildren(
    ...tags.map((tag) => el('span', 'tag', typeof tag === 'string' ? tag : (tag?.name ?? ''))),
  );
}

function toast(level, text) {
  const kind = LEVELS.has(level) ? level : 'info';
  const node = el('div', `toast toast-${kind}`, text);
  node.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  node.addEventListener('click', () => node.remove());
  $('toasts').append(node);
  setTimeout(() => node.remove(), TOAST_MS);
}

function banner(text) {
  $('banner').textContent = text;
  $('banner').hidden = false;
}

// -- __event_call__: dialogs and execute -----------------------------------------------

function ask(kind, data, ack) {
  state.dialogs.push({ kind, data, ack });
  if (!state.dialog) nextDialog();
}

function nextDialog() {
  const next = state.dialogs.shift();
  state.dialog = next ?? null;
  if (!next) return;
  const dialog = $('event-dialog');
  const input = $('dialog-input');
  dialog.dataset.kind = next.kind;
  $('dialog-title').textContent = next.data.title ?? '';
  $('dialog-message').textContent = next.data.message ?? '';
  input.hidden = next.kind !== 'input';
  input.type = INPUT_TYPES.has(next.data.type) ? next.data.type : 'text';
  input.placeholder = next.data.placeholder ?? '';
  input.value = next.data.value ?? '';
  dialog.returnValue = '';
  dialog.showModal();
  (next.kind === 'input' ? input : $('dialog-confirm')).focus();
}

function dropDialogs() {
  state.dialogs = [];
  state.dialog = null;
  $('event-dialog').close();
}

function onDialogClosed() {
  const current = state.dialog;
  if (!current) return;
  // As Open WebUI: confirm answers true (an input dialog its text, or true when empty),
  // cancel and Escape answer false.
  let answer = false;
  if ($('event-dialog').returnValue === 'confirm') {
    answer = current.kind === 'input' ? $('dialog-input').value || true : true;
  }
  current.ack?.(answer);
  nextDialog();
}

async function execute(code, ack) {
  // Runs whatever the plugin sends, with this page's full powers: as in Open WebUI.
  try {
    const run = new Function(`return (async () => { ${code} })()`);
    const result = await run();
    ack?.(result === undefined ? null : JSON.parse(JSON.stringify(result)));
  } catch (error) {
    console.error('eventwire: execute failed', error);
    ack?.({ error: `${error?.name ?? 'Error'}: ${error?.message ?? error}` });
  }
}

// -- messages (state in messages.js, drawing in render.js) ---------------------------

function ensureMessage(id, chatId, role = 'assistant') {
  let m = state.messages.get(id);
  if (!m) {
    m = newMessage(id, chatId, role);
    m.node = el('article');
    state.messages.set(id, m);
    $('messages').append(m.node);
  }
  return m;
}

function render(m) {
  renderMessage(m, m.node, state.chatId);
  const box = $('messages');
  box.scrollTop = box.scrollHeight;
  updateStop();
}

function runningTasks() {
  return [...state.messages.values()].filter((m) => m.taskId && !m.done);
}

function updateStop() {
  $('stop').hidden = runningTasks().length === 0;
}

function conversation() {
  return [...state.messages.values()]
    .filter((m) => m.chatId === state.chatId && m.content)
    .map((m) => ({ role: m.role, content: m.content }));
}

async function send(text) {
  const model = $('model').value;
  if (!model || !text.trim() || !state.socket?.connected) return;
  const messages = [...conversation(), { role: 'user', content: text }];
  const question = ensureMessage(randomId(), state.chatId, 'user');
  question.content = text;
  render(question);
  const id = randomId();
  const answer = ensureMessage(id, state.chatId);
  answer.model = model;
  render(answer);
  try {
    const body = { model, messages, session_id: state.socket.id, chat_id: state.chatId, id, stream: true };
    answer.taskId = (await api('POST', '/api/chat/completions', body)).task_id;
  } catch (error) {
    answer.error = { content: `not submitted: ${error.message}` };
    answer.done = true;
  }
  render(answer);
}

async function stop() {
  for (const m of runningTasks()) {
    try {
      await api('POST', `/api/tasks/stop/${encodeURIComponent(m.taskId)}`);
    } catch (error) {
      if (error.status !== 404) toast('error', `Stop: ${error.message}`); // 404: already over
    }
  }
}

// -- wiring -----------------------------------------------------------------------------

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    start(await devLogin($('login-name').value.trim()));
  } catch (error) {
    showLoginError(error.message);
    $('login-token-box').open = true;
  }
});
$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  start($('login-token').value.trim());
});
$('sign-out').addEventListener('click', () => signOut());
$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('prompt').value;
  $('prompt').value = '';
  send(text);
});
$('prompt').addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey) {
    event.preventDefault();
    $('composer').requestSubmit();
  }
});
$('stop').addEventListener('click', stop);
$('event-dialog').addEventListener('close', onDialogClosed);

const saved = sessionStorage.getItem('eventwire.token');
if (saved) start(saved);
