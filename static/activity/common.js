// Shared helpers of the live pages. Untrusted text (titles, seller names, URLs, error
// messages) only ever goes into the DOM through textContent; links only for http(s) URLs.

export const STOP_CODES = new Map([
  [4401, "Your session has ended: log in again to follow this page."],
  [4403, "You do not have the permission to view runs."],
  [4404, "This run does not exist."],
]);

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function safeHttpUrl(value) {
  if (typeof value !== "string") return null;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

// A link for an http(s) URL, plain text for anything else.
export function urlNode(value) {
  const href = safeHttpUrl(value);
  if (!href) return el("span", "url", value);
  const link = el("a", "url", value);
  link.href = href;
  link.rel = "noopener noreferrer nofollow";
  link.target = "_blank";
  return link;
}

const numberFormat = new Intl.NumberFormat("en-US");
export function formatNumber(value) {
  return typeof value === "number" && Number.isFinite(value) ? numberFormat.format(value) : "—";
}

export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "—";
  return date.toISOString().slice(11, 23) + "Z";
}

export function formatDateTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "—";
  return date.toISOString().slice(0, 19).replace("T", " ") + " UTC";
}

// A websocket that reconnects with backoff. `url()` is called at every (re)connect so the
// caller can pass its latest seq. Close codes in STOP_CODES end the stream for good.
export function connectStream({ url, onMessage, onOpen, onStatus }) {
  let socket = null;
  let delay = 500;
  let stopped = false;

  function open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}${url()}`);
    onStatus("connecting", "connecting…");
    socket.addEventListener("open", () => {
      delay = 500;
      onStatus("live", "live");
      if (onOpen) onOpen();
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      onMessage(message);
    });
    socket.addEventListener("close", (event) => {
      socket = null;
      if (STOP_CODES.has(event.code)) {
        stopped = true;
        onStatus("stopped", STOP_CODES.get(event.code));
        return;
      }
      if (stopped) return;
      onStatus("reconnecting", "reconnecting…");
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 15000);
    });
  }

  open();
  return {
    send(message) {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify(message));
        return true;
      }
      return false;
    },
  };
}

export function showConnection(state, text) {
  const node = document.getElementById("connection");
  if (!node) return;
  node.dataset.state = state;
  node.textContent = text;
}

export const ACTIVE_STATUSES = new Set(["queued", "running"]);
