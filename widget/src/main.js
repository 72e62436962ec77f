// CMP chat widget, v1. Embedded by one tag on a buyer's site:
//   <script async src="https://<cmp host>/widget/v1/cmp-widget.js" data-widget-id="wid_..."></script>
// Until the visitor opens the panel it only draws a launcher button: no request, no cookie. The first open
// starts a widget session (POST /api/widget/session, answered only for the agent's allowed domains),
// which brings the agent's name, greeting and branding; messages then stream back as server-sent events.
// Everything lives in a shadow root, styled by an adopted (constructed) stylesheet, so the page's CSS and
// the widget's never meet, and nothing needs inline script, inline style or eval (strict CSP friendly).
// Optional attributes: data-colour="#RRGGBB", data-position="bottom-left", data-theme="dark" paint the
// launcher before the first session; data-open="true" opens the panel at once.

import { h, icon } from "./dom.js";
import { renderMarkdown } from "./markdown.js";
import { readEvents } from "./sse.js";

/* global __CSS__ */
const VERSION = "1";
const COLOUR = /^#[0-9a-f]{6}$/i;
const POSITIONS = ["bottom-right", "bottom-left"];
const THEMES = ["light", "dark", "auto"];
const KEEP_MESSAGES = 60;
const CHAT_ICON = "M21 12a8 8 0 0 1-11.6 7.1L4 20.5l1.4-4.9A8 8 0 1 1 21 12z";
const CLOSE_ICON = "M6 6l12 12M18 6 6 18";
const SEND_ICON = "M5 12h14M13 6l6 6-6 6";
const UNREACHABLE = "The chat could not be reached. Check your connection and try again.";

function findScript() {
  return document.currentScript || document.querySelector("script[data-widget-id][src*='cmp-widget']");
}

function storageOf(name) {
  try {
    const store = window[name];
    store.setItem("cmp-widget:probe", "1");
    store.removeItem("cmp-widget:probe");
    return store;
  } catch {
    return null; // storage disabled (private modes, sandboxed frames): the widget still works, it forgets
  }
}

function readJson(store, key) {
  try {
    return JSON.parse(store?.getItem(key) || "null");
  } catch {
    return null;
  }
}

function writeJson(store, key, value) {
  try {
    store?.setItem(key, JSON.stringify(value));
  } catch {
    // full or disabled: nothing to do
  }
}

/** Dark text on light colours, white on dark ones (WCAG relative luminance). */
function textOn(colour) {
  const [r, g, b] = [1, 3, 5].map((at) => {
    const channel = parseInt(colour.slice(at, at + 2), 16) / 255;
    return channel <= 0.04045 ? channel / 12.92 : ((channel + 0.055) / 1.055) ** 2.4;
  });
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) ? "#14171f" : "#ffffff";
}

class ChatError extends Error {
  constructor(message, { status = 0, code = "" } = {}) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The error envelope's detail (or a plain sentence), plus Retry-After on a 429. */
async function errorFrom(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    // not JSON (a proxy's page): fall back to a sentence
  }
  let message = typeof body.detail === "string" && body.detail ? body.detail : "The chat is not available.";
  const wait = Number(response.headers.get("Retry-After"));
  if (response.status === 429 && wait > 0 && wait < 3600 && !/try again in/i.test(message)) {
    message += ` Try again in ${wait} s.`;
  }
  return new ChatError(message, { status: response.status, code: body.code || "" });
}

function createWidget(script) {
  const widgetId = script.getAttribute("data-widget-id") || "";
  const base = new URL(script.src, location.href).origin;
  const sessionStore = storageOf("sessionStorage");
  const localStore = storageOf("localStorage");
  const conversationKey = `cmp-widget:${widgetId}`;
  const brandingKey = `cmp-widget:${widgetId}:branding`;

  const attribute = (name, allowed) => {
    const value = (script.getAttribute(`data-${name}`) || "").trim();
    return allowed(value) ? value : undefined;
  };
  let branding = {
    agent_name: "",
    greeting: "",
    logo_url: null,
    primary_colour: attribute("colour", (value) => COLOUR.test(value)) || "#1f2937",
    position: attribute("position", (value) => POSITIONS.includes(value)) || "bottom-right",
    theme: attribute("theme", (value) => THEMES.includes(value)) || "auto",
    ...readJson(localStore, brandingKey),
  };
  const state = { sessionId: "", messages: [], open: false, ...readJson(sessionStore, conversationKey) };
  const handlers = {};
  let session = null;
  let pendingSession = null;
  let sessionProblem = null;
  let busy = false;
  let isOpen = false;

  const save = () =>
    writeJson(sessionStore, conversationKey, {
      ...state,
      messages: state.messages.slice(-KEEP_MESSAGES).map(({ role, text, failed }) => ({ role, text, failed })),
    });

  function emit(event, detail) {
    for (const handler of handlers[event] || []) {
      try {
        handler(detail);
      } catch (error) {
        setTimeout(() => {
          throw error; // the page's bug, reported as the page's, without breaking the widget
        });
      }
    }
  }

  // --- The DOM ----------------------------------------------------------------------------------------
  const host = document.createElement("cmp-chat-widget");
  const shadow = host.attachShadow({ mode: "open" });
  const accentSheet = new CSSStyleSheet();
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(__CSS__);
  shadow.adoptedStyleSheets = [sheet, accentSheet];

  const launcherOpenIcon = icon(CHAT_ICON);
  const launcherCloseIcon = icon(CLOSE_ICON);
  launcherCloseIcon.setAttribute("hidden", "");
  const launcher = h(
    "button",
    { type: "button", class: "launcher", "aria-expanded": "false", "aria-controls": "panel", onclick: toggle },
    launcherOpenIcon,
    launcherCloseIcon,
  );
  const avatar = h("span", { class: "avatar", "aria-hidden": "true" });
  const title = h("h2", { class: "title", id: "title" });
  const closeButton = h(
    "button",
    { type: "button", class: "icon-button", "aria-label": "Close chat", onclick: () => close() },
    icon(CLOSE_ICON),
  );
  const log = h("div", { class: "log", role: "log", "aria-live": "off", "aria-label": "Conversation", tabindex: "0" });
  const announcer = h("div", { class: "sr-only", "aria-live": "polite", "aria-atomic": "true" });
  const input = h("textarea", {
    class: "input",
    id: "input",
    rows: "1",
    maxlength: "8000",
    placeholder: "Write a message…",
    autocomplete: "off",
    enterkeyhint: "send",
  });
  const inputLabel = h("label", { class: "sr-only", for: "input" });
  const sendButton = h("button", { type: "submit", class: "icon-button send", "aria-label": "Send message" }, icon(SEND_ICON));
  const form = h("form", { class: "composer", onsubmit: onSubmit }, inputLabel, input, sendButton);
  const panel = h(
    "section",
    { class: "panel", id: "panel", role: "dialog", "aria-labelledby": "title", hidden: true, onkeydown: onPanelKey },
    h("header", { class: "head" }, avatar, title, closeButton),
    log,
    announcer,
    form,
  );
  const root = h("div", { class: "root" }, panel, launcher);
  shadow.append(root);

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit ? form.requestSubmit() : onSubmit(event);
    }
  });

  function applyBranding(next) {
    const name = next.agent_name || "Chat";
    const colour = COLOUR.test(next.primary_colour) ? next.primary_colour : "#1f2937";
    const theme = THEMES.includes(next.theme) ? next.theme : "auto";
    accentSheet.replaceSync(`.root{--accent:${colour};--on-accent:${textOn(colour)}}`);
    root.className = `root ${theme}${next.position === "bottom-left" ? " left" : ""}${isOpen ? " open" : ""}`;
    title.textContent = name;
    launcher.setAttribute("aria-label", isOpen ? `Close chat with ${name}` : `Open chat with ${name}`);
    inputLabel.textContent = `Message to ${name}`;
    avatar.replaceChildren((name.trim()[0] || "?").toUpperCase());
    if (typeof next.logo_url === "string" && /^https?:\/\//.test(next.logo_url)) {
      const image = h("img", { alt: "", width: "36", height: "36" });
      image.addEventListener("load", () => avatar.replaceChildren(image), { once: true });
      image.src = next.logo_url; // kept as the initial if the page's policy blocks images from CMP
    }
  }

  // --- Messages ----------------------------------------------------------------------------------------
  let greetingView = null;
  let noticeView = null;
  let typingView = null;

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function agentView(text) {
    const bubble = h("div", { class: "bubble" });
    bubble.append(renderMarkdown(text));
    return { element: h("div", { class: "msg agent" }, bubble), bubble };
  }

  function userView(message) {
    const element = h("div", { class: "msg user" }, h("div", { class: "bubble" }, message.text));
    message.view = element;
    if (message.failed) markFailed(message, message.failed);
    return element;
  }

  function markFailed(message, reason) {
    message.failed = reason;
    message.view.querySelector(".failed")?.remove();
    const retry = h("button", { type: "button", class: "link-button", onclick: () => send(message.text, message) }, "Retry");
    message.view.append(h("div", { class: "failed", role: "alert" }, h("span", null, reason), retry));
  }

  function renderGreeting() {
    greetingView?.remove();
    greetingView = branding.greeting ? agentView(branding.greeting).element : null;
    if (greetingView) log.prepend(greetingView);
  }

  function renderConversation() {
    log.replaceChildren();
    greetingView = null;
    renderGreeting();
    for (const message of state.messages) {
      log.append(message.role === "user" ? userView(message) : agentView(message.text).element);
    }
    scrollDown();
  }

  function showNotice(text, retry) {
    noticeView?.remove();
    noticeView = h(
      "div",
      { class: "notice", role: "alert" },
      h("p", null, text),
      retry && h("button", { type: "button", class: "link-button", onclick: retry }, "Try again"),
    );
    log.append(noticeView);
  }

  function setTyping(on) {
    typingView?.remove();
    typingView = on
      ? h("div", { class: "msg typing", role: "status", "aria-label": `${title.textContent} is typing` }, h("span"), h("span"), h("span"))
      : null;
    if (typingView) {
      log.append(typingView);
      scrollDown();
    }
  }

  // --- Talking to CMP -------------------------------------------------------------------------------------
  async function startSession() {
    let response;
    try {
      response = await fetch(`${base}/api/widget/session?widget_id=${encodeURIComponent(widgetId)}`, {
        method: "POST",
        mode: "cors",
        credentials: "omit",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ widget_id: widgetId, session_id: state.sessionId || "" }),
      });
    } catch {
      throw new ChatError(UNREACHABLE); // includes a page whose domain the agent does not allow (no CORS)
    }
    if (!response.ok) throw await errorFrom(response);
    const body = await response.json();
    session = { token: body.token, chatUrl: `${base}/api/chat/${body.config_uuid}/messages`, expiresAt: Date.now() + body.expires_in * 1000 };
    if (state.sessionId !== body.session_id) {
      state.sessionId = body.session_id;
      save();
    }
    branding = { ...branding, ...body.widget };
    writeJson(localStore, brandingKey, branding);
    applyBranding(branding);
    renderGreeting();
    return session;
  }

  function ensureSession(renew = false) {
    if (!renew && session && session.expiresAt - Date.now() > 10000) return Promise.resolve(session);
    pendingSession ||= startSession().finally(() => {
      pendingSession = null;
    });
    return pendingSession;
  }

  async function post(text, renewed = false) {
    const { token, chatUrl } = await ensureSession(renewed);
    let response;
    try {
      response = await fetch(`${chatUrl}?stream=true`, {
        method: "POST",
        mode: "cors",
        credentials: "omit",
        headers: { Authorization: `Widget ${token}`, "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify({ input: text }),
      });
    } catch {
      throw new ChatError(UNREACHABLE);
    }
    if (response.status === 401 && !renewed) return post(text, true); // the session expired: a new one
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  /** Sends a message (or, with `retrying`, the one that failed) and streams the reply into the log. */
  async function send(text, retrying) {
    text = String(text ?? "").trim();
    if (!text || busy) return false;
    busy = true;
    sendButton.disabled = true;
    let message = retrying;
    if (message) {
      message.failed = "";
      message.view.querySelector(".failed")?.remove();
    } else {
      message = { role: "user", text };
      state.messages.push(message);
      noticeView?.remove();
      log.append(userView(message));
      emit("message", { role: "user", text });
    }
    save();
    setTyping(true);
    let reply = null;
    let streamed = "";
    let frame = 0;
    const paint = () => {
      frame = 0;
      reply.bubble.replaceChildren(renderMarkdown(streamed));
      scrollDown();
    };
    try {
      const response = await post(text);
      let output = null;
      await readEvents(response, ({ event, data }) => {
        if (event === "token" && typeof data.text === "string") {
          streamed += data.text;
          if (!reply) {
            setTyping(false);
            reply = agentView("");
            reply.element.setAttribute("aria-busy", "true");
            log.append(reply.element);
          }
          frame ||= requestAnimationFrame(paint);
        } else if (event === "end") {
          output = typeof data.output === "string" ? data.output : streamed;
        } else if (event === "error") {
          throw new ChatError(data.detail || "The agent could not answer.", { code: data.code || "" });
        }
      });
      if (output === null) throw new ChatError("The answer was cut off. Please try again.");
      cancelAnimationFrame(frame);
      setTyping(false);
      if (!reply) {
        reply = agentView("");
        log.append(reply.element);
      }
      reply.bubble.replaceChildren(renderMarkdown(output));
      reply.element.removeAttribute("aria-busy");
      scrollDown();
      state.messages.push({ role: "agent", text: output });
      save();
      announcer.textContent = `${title.textContent}: ${output}`;
      emit("message", { role: "agent", text: output });
      return true;
    } catch (error) {
      cancelAnimationFrame(frame);
      setTyping(false);
      reply?.element.remove(); // a reply cut short is not an answer (nothing was charged for it)
      const reason = error instanceof ChatError ? error.message : UNREACHABLE;
      markFailed(message, reason);
      save();
      scrollDown();
      emit("error", { message: reason, code: error.code || "" });
      return false;
    } finally {
      busy = false;
      sendButton.disabled = false;
    }
  }

  function connect() {
    noticeView?.remove();
    sessionProblem = null;
    ensureSession().catch((error) => {
      sessionProblem = error;
      showNotice(error.message, connect);
      emit("error", { message: error.message, code: error.code || "" });
    });
  }

  // --- Opening and closing --------------------------------------------------------------------------------
  function setOpen(next) {
    isOpen = next;
    state.open = next;
    save();
    panel.hidden = !next;
    launcher.setAttribute("aria-expanded", String(next));
    launcherOpenIcon.toggleAttribute("hidden", next);
    launcherCloseIcon.toggleAttribute("hidden", !next);
    applyBranding(branding);
  }

  /** `focus` false when the panel reopens by itself (page load): focus is the visitor's to move. */
  function open(focus = true) {
    if (isOpen) return;
    setOpen(true);
    if (!session || sessionProblem) connect();
    scrollDown();
    if (focus) input.focus();
    emit("open");
  }

  function close() {
    if (!isOpen) return;
    const hadFocus = shadow.activeElement && panel.contains(shadow.activeElement);
    setOpen(false);
    if (hadFocus) launcher.focus();
    emit("close");
  }

  function toggle() {
    isOpen ? close() : open();
  }

  function onPanelKey(event) {
    if (event.key === "Escape") {
      event.stopPropagation();
      close();
    }
  }

  function onSubmit(event) {
    event.preventDefault();
    const text = input.value;
    if (!text.trim() || busy) return;
    input.value = "";
    send(text);
  }

  applyBranding(branding);
  renderConversation();
  (document.body || document.documentElement).append(host);
  if (state.open || /^(true|1)$/.test(script.getAttribute("data-open") || "")) open(false);

  return {
    version: VERSION,
    open: () => open(),
    close,
    toggle,
    /** Opens the panel and sends `text`; resolves to true once the reply has arrived. */
    sendMessage(text) {
      open();
      return send(text);
    },
    /** Subscribe to "open", "close", "message" ({role, text}) or "error" ({message, code}); returns an unsubscribe. */
    on(event, handler) {
      if (typeof handler !== "function") return () => {};
      (handlers[event] ||= []).push(handler);
      return () => {
        handlers[event] = handlers[event].filter((known) => known !== handler);
      };
    },
  };
}

function start() {
  if (window.CMPWidget?.version) return; // the script was included twice
  const script = findScript();
  if (!script?.getAttribute("data-widget-id")) return;
  const boot = () => {
    window.CMPWidget = createWidget(script);
    document.dispatchEvent(new CustomEvent("cmpwidget:ready", { detail: window.CMPWidget }));
  };
  document.body ? boot() : document.addEventListener("DOMContentLoaded", boot, { once: true });
}

start();
