// Drawing one message: what Open WebUI shows of each part, built with textContent only
// (plugin text is never parsed as HTML).

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function safeUrl(url) {
  try {
    const parsed = new URL(url, window.location.href);
    if (['http:', 'https:', 'blob:'].includes(parsed.protocol)) return parsed.href;
    if (parsed.protocol === 'data:' && /^data:image\//i.test(url)) return url;
  } catch {
    // not a URL
  }
  return null;
}

function renderFiles(files) {
  const box = el('div', 'files');
  for (const file of files) {
    const url = safeUrl(file?.url ?? '');
    if (!url) continue;
    if (file.type === 'image' || /^data:image\//i.test(url)) {
      const img = el('img');
      img.src = url;
      img.alt = file.name ?? 'image';
      box.append(img);
    } else {
      const link = el('a', '', file.name ?? url);
      link.href = url;
      link.target = '_blank';
      link.rel = 'noopener noreferrer';
      box.append(link);
    }
  }
  return box;
}

function renderSources(sources) {
  const box = el('div', 'sources');
  sources.forEach((source, i) => {
    const item = el('details', 'source');
    item.dataset.key = `source-${i}`;
    item.append(el('summary', '', `[${i + 1}] ${source.name}`));
    for (const doc of source.documents) item.append(el('p', '', doc));
    box.append(item);
  });
  return box;
}

function renderStatus(history, messageDone) {
  const visible = history.filter((s) => !(s?.hidden ?? false)); // hidden: kept, not shown
  const current = visible.at(-1);
  if (!current) return null;
  const line = el('span', 'status', current.description ?? '');
  line.dataset.done = String(current.done !== false);
  // Loading until done, as Open WebUI; also settled once the run ended (e.g. stopped).
  if (current.done === false && !messageDone) line.classList.add('shimmer');
  if (visible.length === 1) return line;
  const details = el('details', 'status-history');
  details.dataset.key = 'status-history';
  const summary = el('summary');
  summary.append(line);
  const list = el('ol');
  for (const s of visible) list.append(el('li', '', s.description ?? ''));
  details.append(summary, list);
  return details;
}

/** Redraw ``node`` for message ``m`` (``chatId``: the page's own chat), keeping open parts open. */
export function renderMessage(m, node, chatId) {
  const open = new Set([...node.querySelectorAll('details[open]')].map((d) => d.dataset.key));
  node.className = `message ${m.role}`;
  node.dataset.messageId = m.id;
  node.dataset.done = String(m.done);
  node.dataset.hiddenStatuses = String(m.statusHistory.filter((s) => s?.hidden).length);
  const parts = [];
  if (m.role === 'assistant') {
    const meta = [m.model ?? 'assistant'];
    if (m.chatId && m.chatId !== chatId) meta.push(`chat ${m.chatId}`);
    if (m.stopped) meta.push('stopped');
    const head = el('div', 'meta', meta.join(' · '));
    if (m.favorite) head.append(el('span', 'favorite', ' ★'));
    parts.push(head);
    const status = renderStatus(m.statusHistory, m.done);
    if (status) parts.push(status);
  }
  const content = el('div', 'content', m.content);
  if (!m.content && !m.done) content.classList.add('typing');
  parts.push(content);
  if (m.files.length) parts.push(renderFiles(m.files));
  if (m.sources.length) parts.push(renderSources(m.sources));
  if (m.actionResult) parts.push(el('pre', 'action-result', JSON.stringify(m.actionResult)));
  if (m.error) parts.push(el('div', 'error', m.error?.content ?? JSON.stringify(m.error)));
  node.replaceChildren(...parts);
  for (const d of node.querySelectorAll('details')) d.open = open.has(d.dataset.key);
}
