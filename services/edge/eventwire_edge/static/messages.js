// The page's state of one message, and how each event changes it: Open WebUI's
// chatEventHandler (Chat.svelte) applied to a plain object. No DOM here.

export function newMessage(id, chatId, role = 'assistant') {
  return {
    id,
    role,
    chatId,
    content: '',
    statusHistory: [], // every status, hidden ones included (they are never shown)
    sources: [], // [{name, url, documents}], grouped by name
    files: [],
    done: role === 'user',
    error: null,
    favorite: false,
    stopped: false,
  };
}

export const MESSAGE_EVENTS = {
  status: (m, data) => m.statusHistory.push(data ?? {}),
  'chat:completion': (m, data) => completion(m, data ?? {}),
  'chat:tasks:cancel': (m) => {
    m.stopped = true;
    m.done = true;
  },
  'chat:message:delta': (m, data) => (m.content += data?.content ?? ''),
  message: (m, data) => (m.content += data?.content ?? ''),
  'chat:message': (m, data) => (m.content = data?.content ?? ''),
  replace: (m, data) => (m.content = data?.content ?? ''),
  'chat:message:files': (m, data) => (m.files = data?.files ?? []),
  files: (m, data) => (m.files = data?.files ?? []),
  'chat:message:error': (m, data) => (m.error = data?.error ?? data),
  'chat:message:favorite': (m, data) => (m.favorite = Boolean(data?.favorite)),
  source: (m, data) => addSource(m, data ?? {}),
  citation: (m, data) => addSource(m, data ?? {}),
  'action:result': (m, data) => (m.actionResult = data),
};

function completion(m, data) {
  const delta = data.choices?.[0]?.delta?.content;
  if (delta) m.content += delta;
  if (data.content) m.content = data.content;
  if (data.error) m.error = data.error;
  for (const source of data.sources ?? []) addSource(m, source);
  if (data.done) m.done = true;
}

function addSource(m, data) {
  const name =
    data.source?.name ?? data.metadata?.[0]?.name ?? data.metadata?.[0]?.source ?? data.source?.id ?? 'source';
  let entry = m.sources.find((s) => s.name === name);
  if (!entry) {
    entry = { name, url: data.source?.url, documents: [] };
    m.sources.push(entry);
  }
  entry.documents.push(...(data.document ?? []));
}
