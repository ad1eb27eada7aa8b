"use strict";
/*
 * MessageBridge web chat client: plain DOM, no framework, no build step.
 *
 * One file on purpose (about 1 900 lines): the server serves it as it is, with no bundler, and one script keeps the
 * page to one request and the CSP to one origin. It reads in sections, each under a banner comment: constants and
 * state, helpers, status lines, HTTP, session, the socket, events, rooms, the open room, messages, reactions, the
 * message list's clicks, the composer, presence, search, operations, wiring.
 *
 * Served under a strict Content-Security-Policy, so there is no inline script, no inline style and no innerHTML
 * with data: every node is made with createElement and filled with textContent (see el()).
 *
 * Data flow:
 *  - REST (api()) for history, rooms, members, search, uploads and every action that wants a clear error;
 *  - one WebSocket (connectSocket()) for live events. Every event carries the event log's `position`; the client
 *    remembers the highest one processed (sock.lastPosition) and, after any drop, reconnects with `since` set to it,
 *    so the server replays exactly the events after it. Events at or below it are skipped, so none is applied twice.
 *  - Sends carry a client_id (a UUID made once per message). Over the socket, then, if the socket drops or no ack
 *    comes, again over REST or the next socket with the SAME client_id: the server answers a repeat with the first
 *    message and stores nothing new, so a retry never duplicates.
 */
(() => {
  // ---------------------------------------------------------------------------------------------------------------
  // Constants and state

  const EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀"];
  const PAGE = 50;
  const TYPING_SEND_EVERY_MS = 2000;
  const TYPING_SHOW_MS = 4000;
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const PING_EVERY_MS = 25000;
  const PONG_TIMEOUT_MS = 10000;
  const ACK_TIMEOUT_MS = 8000;
  const KEYS = { access: "mb.access", refresh: "mb.refresh", user: "mb.user", room: "mb.room", opsKey: "mb.opsKey" };

  const state = {
    access: null,
    refresh: null,
    user: null,
    rooms: new Map(), // room id -> {room, role, last_message, unread_count, member_count}
    currentRoomId: null,
    messages: new Map(), // the open room's messages by id
    hasOlder: false,
    loadingOlder: false,
    detached: false, // showing history around a search hit: the live tail is not on screen ("Jump to latest")
    roomSeq: 0, // bumped on every room switch; late answers for an older room are dropped
    members: new Map(), // the open room's members by user id
    users: new Map(), // user id -> username
    presence: new Map(), // user id -> "online" | "offline"
    partners: new Map(), // direct room id -> the other user's id
    pending: new Map(), // client_id -> unsent message {clientId, roomId, content, replyTo, attachmentIds, status}
    replyTo: null,
    editingId: null,
    typing: new Map(), // user id -> {roomId, timer}
    lastTypingSent: 0,
    readSent: new Map(), // room id -> highest message id marked read
    parents: new Map(), // reply parents that are not on the page, by id
    picker: null,
  };

  const sock = {
    ws: null,
    ready: false,
    lastPosition: null, // highest event position processed; null until the first `ready`
    backoff: BACKOFF_MIN_MS,
    retryTimer: null,
    pingTimer: null,
    pongTimer: null,
    authFailures: 0,
  };

  const ops = { nextBefore: null };

  // ---------------------------------------------------------------------------------------------------------------
  // Small helpers

  const $ = (id) => document.getElementById(id);

  /** Makes an element: props are attributes (class, text, data-*, aria-*), children nodes or strings (as text). */
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  /** A v4 UUID; crypto.randomUUID exists only in secure contexts, getRandomValues everywhere. */
  function uuid() {
    if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function formatTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "";
    const sameDay = date.toDateString() === new Date().toDateString();
    const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return sameDay ? time : `${date.toLocaleDateString()} ${time}`;
  }

  function formatSize(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  function me() {
    return state.user ? state.user.id : null;
  }

  function learnUser(id, username) {
    if (id != null && username) state.users.set(id, username);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Status lines

  let errorIsNetwork = false;
  function showError(message, network = false) {
    errorIsNetwork = Boolean(message) && network;
    $("error").textContent = message;
    $("error-dismiss").hidden = !message;
  }

  function clearError() {
    showError("");
  }

  function showApiError(err) {
    showError(err && err.message ? err.message : String(err), Boolean(err) && err.status === 0);
  }

  let noticeTimer = null;
  function notice(text) {
    $("notice").textContent = text;
    clearTimeout(noticeTimer);
    if (text) noticeTimer = setTimeout(() => { $("notice").textContent = ""; }, 6000);
  }

  function setConnection(text) {
    $("connection-status").textContent = text;
    $("connection-status").dataset.state = sock.ready ? "ready" : "down";
  }

  // ---------------------------------------------------------------------------------------------------------------
  // HTTP

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function errorFrom(response) {
    let message = `${response.status} ${response.statusText || "error"}`;
    let code = "http_" + response.status;
    try {
      const body = await response.json();
      if (body && body.error) {
        message = body.error.message || message;
        code = body.error.code || code;
      }
    } catch (_) {
      // not JSON: keep the status line
    }
    return new ApiError(response.status, code, message);
  }

  /**
   * Calls the API. Without opts.key it sends the session's access token and, on a 401, refreshes the tokens once
   * and retries; with opts.key (an admin API key, or null for none) it sends that and never refreshes.
   * Throws ApiError carrying the server's error.message.
   */
  async function api(method, path, opts = {}) {
    const usesSession = opts.key === undefined;
    const token = usesSession ? state.access : opts.key;
    const headers = {};
    if (token) headers.Authorization = "Bearer " + token;
    let body;
    if (opts.body instanceof Blob) {
      body = opts.body;
      headers["Content-Type"] = opts.contentType || opts.body.type || "application/octet-stream";
    } else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(path, { method, headers, body, cache: "no-store" });
    } catch (err) {
      throw new ApiError(0, "network", "Cannot reach the server. Check your connection and try again.");
    }
    if (response.status === 401 && usesSession && !opts.retried) {
      // Another request may have refreshed meanwhile: then the new token is simply tried.
      const renewed = state.access !== token || (await refreshTokens());
      if (renewed) return api(method, path, { ...opts, retried: true });
      const err = await errorFrom(response);
      sessionEnded();
      throw new ApiError(401, err.code, `Your session has ended (${err.message}). Please sign in again.`);
    }
    if (!response.ok) throw await errorFrom(response);
    if (response.status === 204) return null;
    if (opts.blob) return response.blob();
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  // Refresh tokens rotate and a used one revokes its whole family, so only one refresh may be in flight.
  let refreshing = null;
  function refreshTokens() {
    if (!refreshing) refreshing = doRefresh().finally(() => { refreshing = null; });
    return refreshing;
  }

  /** true: new tokens; false: the server refused (sign in again); throws on a network failure. */
  async function doRefresh() {
    if (!state.refresh) return false;
    let response;
    try {
      response = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: state.refresh }),
      });
    } catch (err) {
      throw new ApiError(0, "network", "Cannot reach the server to renew the session.");
    }
    if (!response.ok) return false;
    saveSession(await response.json());
    return true;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Session: sign in, register, sign out

  function saveSession(tokens) {
    state.access = tokens.access_token;
    state.refresh = tokens.refresh_token;
    sessionStorage.setItem(KEYS.access, state.access);
    sessionStorage.setItem(KEYS.refresh, state.refresh);
    if (tokens.user) {
      state.user = tokens.user;
      sessionStorage.setItem(KEYS.user, JSON.stringify(tokens.user));
    }
  }

  async function onLogin(event) {
    event.preventDefault();
    const username = $("login-username").value.trim();
    const password = $("login-password").value;
    if (!username || !password) return showError("Enter your username (or email) and password.");
    await withButton($("login-submit"), async () => {
      const tokens = await api("POST", "/api/v1/auth/login", { key: null, body: { username, password } });
      saveSession(tokens);
      $("login-password").value = "";
      await enterApp();
    });
  }

  async function onRegister(event) {
    event.preventDefault();
    const body = {
      username: $("register-username").value.trim(),
      email: $("register-email").value.trim(),
      password: $("register-password").value,
    };
    await withButton($("register-submit"), async () => {
      const tokens = await api("POST", "/api/v1/auth/register", { key: null, body });
      saveSession(tokens);
      $("register-password").value = "";
      await enterApp();
    });
  }

  /** Runs an action with its button disabled; shows the error, if any. */
  async function withButton(button, action) {
    if (button) button.disabled = true;
    try {
      await action();
      clearError(); // the last action worked: an older error no longer applies
    } catch (err) {
      showApiError(err);
    } finally {
      if (button) button.disabled = false;
    }
  }

  async function enterApp() {
    clearError();
    if (!state.user) state.user = await api("GET", "/api/v1/users/me");
    learnUser(state.user.id, state.user.username);
    $("current-user").textContent = state.user.username;
    $("auth").hidden = true;
    $("app").hidden = false;
    connectSocket();
    await loadRooms();
    const saved = Number(sessionStorage.getItem(KEYS.room));
    const first = sortedRooms()[0];
    const target = state.rooms.has(saved) ? saved : first && first.room.id;
    if (target && !state.currentRoomId) await openRoom(target);
  }

  async function onLogout() {
    let failure = null;
    try {
      await api("POST", "/api/v1/auth/logout");
    } catch (err) {
      failure = err; // signed out here all the same
    }
    signOutLocally();
    if (failure && failure.status !== 401) showApiError(failure);
  }

  function sessionEnded() {
    signOutLocally();
    showError("Your session has ended. Please sign in again.");
  }

  function signOutLocally() {
    state.access = null;
    state.refresh = null;
    state.user = null;
    for (const key of [KEYS.access, KEYS.refresh, KEYS.user, KEYS.room]) sessionStorage.removeItem(key);
    closeSocket();
    sock.lastPosition = null;
    clearTimeout(sock.retryTimer);
    for (const p of state.pending.values()) clearTimeout(p.timer);
    state.pending.clear();
    state.rooms.clear();
    state.readSent.clear();
    state.partners.clear();
    state.parents.clear();
    state.users.clear();
    state.presence.clear();
    sock.backoff = BACKOFF_MIN_MS;
    sock.authFailures = 0;
    closeRoom();
    $("room-list").replaceChildren();
    $("search-panel").hidden = true;
    $("ops").hidden = true;
    $("chat").hidden = false;
    $("app").hidden = true;
    $("auth").hidden = false;
    setConnection("offline");
  }

  // ---------------------------------------------------------------------------------------------------------------
  // The socket

  function socketURL() {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  }

  function connectSocket() {
    if (!state.access) return;
    closeSocket();
    clearTimeout(sock.retryTimer);
    setConnection("connecting…");
    const ws = new WebSocket(socketURL());
    sock.ws = ws;
    ws.onopen = () => {
      // Browsers cannot set headers on a socket: the token goes in the first frame. `since` resumes after the
      // last event processed; on the very first connect it is left out and the stream starts at the log's head.
      const frame = { type: "auth", token: state.access };
      if (sock.lastPosition !== null) frame.since = sock.lastPosition;
      ws.send(JSON.stringify(frame));
    };
    ws.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      armPongTimer();
      handleFrame(frame);
    };
    ws.onerror = () => { /* a close event follows */ };
    ws.onclose = (event) => onSocketClose(ws, event);
  }

  /** Forgets the current socket without reacting to its close. */
  function closeSocket() {
    const ws = sock.ws;
    sock.ws = null;
    sock.ready = false;
    clearInterval(sock.pingTimer);
    clearTimeout(sock.pongTimer);
    if (ws) {
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      try { ws.close(1000); } catch (_) { /* already closed */ }
    }
  }

  function onSocketClose(ws, event) {
    if (ws !== sock.ws) return;
    closeSocket();
    if (!state.access) return;
    if (event.code === 4001) {
      // The token was refused (expired): renew it, then reconnect. Refused three times in a row: the session is over.
      sock.authFailures += 1;
      if (sock.authFailures > 2) return sessionEnded();
      setConnection("reconnecting…");
      refreshTokens().then(
        (renewed) => (renewed ? connectSocket() : sessionEnded()),
        () => scheduleReconnect(),
      );
      return;
    }
    if (event.code === 4008) {
      // We fell too far behind: reconnect at once, resuming from the last position processed.
      connectSocket();
      return;
    }
    scheduleReconnect();
  }

  function scheduleReconnect() {
    clearTimeout(sock.retryTimer);
    const delay = sock.backoff;
    sock.backoff = Math.min(sock.backoff * 2, BACKOFF_MAX_MS);
    setConnection(navigator.onLine === false ? "offline: reconnecting when the network is back…" : `reconnecting in ${Math.round(delay / 1000)} s…`);
    sock.retryTimer = setTimeout(connectSocket, delay);
  }

  /** Sends a frame when the socket is ready; false when it is not. */
  function sendFrame(frame) {
    if (!sock.ready || !sock.ws) return false;
    try {
      sock.ws.send(JSON.stringify(frame));
      return true;
    } catch (_) {
      return false;
    }
  }

  function startPing() {
    clearInterval(sock.pingTimer);
    sock.pingTimer = setInterval(() => sendFrame({ type: "ping" }), PING_EVERY_MS);
  }

  /** Any frame proves the socket alive; without one for a ping interval plus the timeout, it is dropped. */
  function armPongTimer() {
    clearTimeout(sock.pongTimer);
    const ws = sock.ws;
    sock.pongTimer = setTimeout(() => {
      if (ws === sock.ws && sock.ready) {
        closeSocket();
        scheduleReconnect();
      }
    }, PING_EVERY_MS + PONG_TIMEOUT_MS);
  }

  function handleFrame(frame) {
    switch (frame.type) {
      case "ready": return onReady(frame);
      case "ack": return onAck(frame);
      case "error": return onSocketError(frame);
      case "presence": return setPresence(frame.user_id, frame.status);
      case "typing": return onTyping(frame);
      case "pong": return undefined;
      default:
        if (typeof frame.position === "number") return handleEvent(frame);
        return undefined;
    }
  }

  function onReady(frame) {
    const first = sock.lastPosition === null;
    sock.ready = true;
    sock.backoff = BACKOFF_MIN_MS;
    sock.authFailures = 0;
    if (first) sock.lastPosition = frame.position;
    setConnection("connected");
    if (errorIsNetwork) clearError(); // "cannot reach the server" is over
    startPing();
    // Whatever was not acknowledged goes again, with its client_id: stored ones come back as repeats.
    for (const p of state.pending.values()) {
      if (p.status !== "error") deliver(p);
    }
    if (first) {
      // Events from before this socket's start position are not streamed: fetch what changed meanwhile.
      loadRoomsSoon();
      catchUpCurrentRoom();
    }
  }

  function onAck(frame) {
    const data = frame.data;
    if (frame.ref && state.pending.has(frame.ref) && data && data.id) onMessageStored(data);
  }

  function onSocketError(frame) {
    const p = frame.ref && state.pending.get(frame.ref);
    if (p) {
      clearTimeout(p.timer);
      p.status = "error";
      renderPendingState(p);
    }
    showError(frame.message || frame.code || "The server refused a frame.");
  }

  /** One event of the log. Events at or below the last processed position were seen already (resume seam). */
  function handleEvent(event) {
    if (sock.lastPosition !== null && event.position <= sock.lastPosition) return;
    sock.lastPosition = event.position;
    const data = event.data || {};
    try {
      switch (event.type) {
        case "message.created": onMessageCreated(data); break;
        case "message.updated":
        case "message.deleted": onMessageChanged(data); break;
        case "reaction.added": learnUser(data.user_id, data.username); applyReaction(data.message_id, data.emoji, data.user_id, true); break;
        case "reaction.removed": applyReaction(data.message_id, data.emoji, data.user_id, false); break;
        case "room.read": onRoomRead(data); break;
        case "room.member_joined": onMemberJoined(data); break;
        case "room.member_left": onMemberLeft(data); break;
        case "room.member_updated": onMemberUpdated(data); break;
        case "room.created":
        case "room.updated": onRoomChanged(data, event.type); break;
        default: break;
      }
    } catch (err) {
      console.error("event", event.type, err);
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Events

  function onMessageCreated(m) {
    learnUser(m.user_id, m.username);
    stopTyping(m.user_id);
    if (m.user_id === me() && m.client_id && state.pending.has(m.client_id)) {
      onMessageStored(m);
    }
    const summary = state.rooms.get(m.room_id);
    if (!summary) {
      loadRoomsSoon();
    } else {
      summary.last_message = m;
      if (m.user_id !== me() && !isWatching(m.room_id)) summary.unread_count = (summary.unread_count || 0) + 1;
      renderRooms();
    }
    if (m.room_id === state.currentRoomId && !state.detached) {
      const follow = isNearBottom() || m.user_id === me();
      upsertMessage(m);
      if (follow) scrollToBottom();
      markReadSoon();
    }
  }

  function onMessageChanged(m) {
    const summary = state.rooms.get(m.room_id);
    if (summary && summary.last_message && summary.last_message.id === m.id) summary.last_message = m;
    if (summary && m.deleted_at && summary.unread_count > 0) loadRoomsSoon();
    // Event data is the message as of this event, reactions included: it replaces what we had.
    if (m.room_id === state.currentRoomId && state.messages.has(m.id)) upsertMessage(m);
    refreshQuotesOf(m);
  }

  function onRoomRead(receipt) {
    if (receipt.user_id !== me()) return;
    const summary = state.rooms.get(receipt.room_id);
    if (!summary) return;
    const last = summary.last_message ? summary.last_message.id : 0;
    if (receipt.last_read_message_id >= last) {
      summary.unread_count = 0;
      renderRooms();
    } else {
      loadRoomsSoon();
    }
  }

  function onMemberJoined(member) {
    learnUser(member.user_id, member.username);
    if (member.user_id === me()) {
      // Someone added me, or I joined elsewhere: the room list changed.
      loadRoomsSoon();
      return;
    }
    const summary = state.rooms.get(member.room_id);
    if (summary) summary.member_count = (summary.member_count || 0) + 1;
    if (member.room_id === state.currentRoomId) {
      state.members.set(member.user_id, member);
      renderMembers();
      fetchPresence([member.user_id]).catch(showApiError);
    }
  }

  function onMemberLeft(member) {
    if (member.user_id === me()) {
      state.rooms.delete(member.room_id);
      renderRooms();
      if (member.room_id === state.currentRoomId) {
        closeRoom();
        notice("You are no longer in that room.");
      }
      return;
    }
    const summary = state.rooms.get(member.room_id);
    if (summary && summary.member_count > 0) summary.member_count -= 1;
    if (member.room_id === state.currentRoomId) {
      state.members.delete(member.user_id);
      renderMembers();
    }
  }

  function onMemberUpdated(member) {
    if (member.user_id === me()) {
      const summary = state.rooms.get(member.room_id);
      if (summary) summary.role = member.role;
    }
    if (member.room_id === state.currentRoomId) {
      state.members.set(member.user_id, member);
      renderMembers();
      for (const m of state.messages.values()) fillMessage(findMessageItem(m.id), m);
    }
  }

  function onRoomChanged(room, type) {
    const summary = state.rooms.get(room.id);
    if (!summary) {
      if (type === "room.created") loadRoomsSoon();
      return;
    }
    summary.room = room;
    renderRooms();
    if (room.id === state.currentRoomId) renderRoomHeader();
  }

  /** True when new messages of this room are being seen right now (so they are not unread). */
  function isWatching(roomId) {
    return roomId === state.currentRoomId && !state.detached && document.hasFocus() && !document.hidden;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Rooms

  let roomsSeq = 0;
  async function loadRooms() {
    const seq = ++roomsSeq;
    const list = await api("GET", "/api/v1/rooms");
    if (seq !== roomsSeq) return; // a later load is on its way
    state.rooms = new Map(list.map((summary) => [summary.room.id, summary]));
    for (const summary of list) {
      if (summary.last_message) learnUser(summary.last_message.user_id, summary.last_message.username);
    }
    renderRooms();
    if (state.currentRoomId) renderRoomHeader();
    learnPartners(list).catch(showApiError);
  }

  const loadRoomsSoon = debounce(() => loadRooms().catch(showApiError), 150);

  /** Most recently active first, as the server orders them: by last message id, rooms without messages last. */
  function sortedRooms() {
    return [...state.rooms.values()].sort((a, b) => {
      const x = a.last_message ? a.last_message.id : -1;
      const y = b.last_message ? b.last_message.id : -1;
      return y - x || a.room.id - b.room.id;
    });
  }

  /**
   * Updates the room list in place: each room keeps its <li> (moved only when the order changes), so focus and
   * references to its elements survive the frequent updates (every new message reorders and recounts).
   */
  function renderRooms() {
    const list = $("room-list");
    const focusedRoom = document.activeElement && document.activeElement.closest && document.activeElement.closest("#room-list .room");
    const existing = new Map([...list.querySelectorAll("li.room")].map((li) => [Number(li.dataset.roomId), li]));
    for (const empty of list.querySelectorAll("li.empty")) empty.remove();
    const rooms = sortedRooms();
    rooms.forEach((summary, index) => {
      let li = existing.get(summary.room.id);
      existing.delete(summary.room.id);
      if (!li) li = el("li", { "data-room-id": summary.room.id }, el("button", { type: "button", class: "room-open" }));
      fillRoomItem(li, summary);
      if (list.children[index] !== li) list.insertBefore(li, list.children[index] || null);
    });
    for (const gone of existing.values()) gone.remove();
    if (!rooms.length) list.append(el("li", { class: "empty", text: "No rooms yet." }));
    if (focusedRoom && focusedRoom.isConnected && document.activeElement === document.body) focusedRoom.querySelector(".room-open").focus();
  }

  function fillRoomItem(li, summary) {
    const room = summary.room;
    const current = room.id === state.currentRoomId;
    li.className = `room ${room.kind} ${room.visibility}${current ? " current" : ""}`;
    const button = li.querySelector(".room-open");
    if (current) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
    button.title = room.kind === "direct" ? "Direct messages" : `${room.visibility} room`;
    let name = button.querySelector(".room-name");
    if (!name) name = button.appendChild(el("span", { class: "room-name" }));
    if (name.textContent !== room.name) name.textContent = room.name;
    const partner = state.partners.get(room.id);
    if (partner != null && !button.querySelector(".presence-dot")) button.prepend(presenceDot(partner));
    let badge = li.querySelector(".unread");
    if (summary.unread_count > 0) {
      if (!badge) {
        badge = el("span", { class: "unread", id: `unread-${room.id}`, title: "unread messages" });
        li.append(badge);
      }
      // The server counts up to 1 000 (1 000 = "1 000 or more").
      const shown = summary.unread_count >= 1000 ? "1000+" : String(summary.unread_count);
      if (badge.textContent !== shown) badge.textContent = shown;
      button.setAttribute("aria-describedby", badge.id);
    } else {
      if (badge) badge.remove();
      button.removeAttribute("aria-describedby");
    }
  }

  /** The other member of each direct room, for its presence dot. */
  async function learnPartners(list) {
    const direct = list.filter((s) => s.room.kind === "direct" && !state.partners.has(s.room.id));
    await Promise.all(direct.map(async (s) => {
      const members = await api("GET", `/api/v1/rooms/${s.room.id}/members`);
      const other = members.find((m) => m.user_id !== me());
      if (other) {
        learnUser(other.user_id, other.username);
        state.partners.set(s.room.id, other.user_id);
      }
    }));
    if (direct.length) renderRooms();
    await fetchPresence([...state.partners.values()]);
  }

  async function onCreateRoom(event) {
    event.preventDefault();
    const name = $("new-room-name").value.trim();
    if (!name) return showError("Give the room a name.");
    await withButton($("new-room-submit"), async () => {
      const room = await api("POST", "/api/v1/rooms", { body: { name, visibility: $("new-room-visibility").value } });
      $("new-room-name").value = "";
      await loadRooms();
      await openRoom(room.id);
      notice(`Room “${room.name}” created.`);
    });
  }

  async function loadPublicRooms() {
    const list = $("public-rooms");
    list.replaceChildren(el("li", { class: "empty", text: "Loading…" }));
    try {
      const rooms = await api("GET", "/api/v1/rooms/public?limit=100");
      list.replaceChildren(...rooms.map((room) => {
        const joined = state.rooms.has(room.id);
        return el("li", { class: "public-room", "data-room-id": room.id },
          el("span", { class: "room-name", text: room.name }),
          el("button", { type: "button", class: "join-button", "data-room-id": room.id, text: joined ? "Open" : "Join" }));
      }));
      if (!rooms.length) list.append(el("li", { class: "empty", text: "No public rooms." }));
    } catch (err) {
      list.replaceChildren();
      showApiError(err);
    }
  }

  async function joinRoom(roomId, button) {
    await withButton(button, async () => {
      if (!state.rooms.has(roomId)) {
        await api("POST", `/api/v1/rooms/${roomId}/join`);
        await loadRooms();
      }
      await openRoom(roomId);
      loadPublicRooms();
    });
  }

  /** Every user, page by page (for the direct-message picker and the username lookup). */
  async function allUsers(stopWhen) {
    const users = [];
    for (let offset = 0; offset < 10000; offset += 100) {
      const page = await api("GET", `/api/v1/users?limit=100&offset=${offset}`);
      for (const u of page) learnUser(u.id, u.username);
      users.push(...page);
      if (page.length < 100 || (stopWhen && page.some(stopWhen))) break;
    }
    return users;
  }

  async function loadDirectChoices() {
    try {
      const users = await allUsers();
      const select = $("dm-user");
      select.replaceChildren(...users.filter((u) => u.id !== me())
        .map((u) => el("option", { value: u.id, text: u.display_name ? `${u.username} (${u.display_name})` : u.username })));
    } catch (err) {
      showApiError(err);
    }
  }

  async function onDirect(event) {
    event.preventDefault();
    const userId = Number($("dm-user").value);
    if (!userId) return showError("Pick a person first.");
    await withButton($("dm-submit"), async () => {
      const room = await api("POST", "/api/v1/rooms/direct", { body: { user_id: userId } });
      await loadRooms();
      await openRoom(room.id || (room.room && room.room.id));
    });
  }

  async function onAddMember(event) {
    event.preventDefault();
    const roomId = state.currentRoomId;
    const name = $("add-member-username").value.trim();
    if (!roomId || !name) return;
    await withButton($("add-member-submit"), async () => {
      const lower = name.toLowerCase();
      const users = await allUsers((u) => u.username === name);
      const user = users.find((u) => u.username === name) || users.find((u) => u.username.toLowerCase() === lower);
      if (!user) throw new Error(`There is no user named “${name}”.`);
      const member = await api("POST", `/api/v1/rooms/${roomId}/members`, { body: { user_id: user.id } });
      $("add-member-username").value = "";
      if (roomId === state.currentRoomId && member) {
        state.members.set(member.user_id, member);
        renderMembers();
      }
      notice(`${user.username} was added to the room.`);
    });
  }

  async function onLeave() {
    const roomId = state.currentRoomId;
    if (!roomId) return;
    await withButton($("leave-room"), async () => {
      await api("POST", `/api/v1/rooms/${roomId}/leave`);
      state.rooms.delete(roomId);
      closeRoom();
      renderRooms();
      notice("You left the room.");
      const next = sortedRooms()[0];
      if (next) await openRoom(next.room.id);
    });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // The open room

  function closeRoom() {
    state.roomSeq += 1;
    state.currentRoomId = null;
    state.messages.clear();
    state.members.clear();
    state.detached = false;
    state.hasOlder = false;
    cancelComposerMode();
    closePicker();
    $("messages").replaceChildren();
    $("room-title").textContent = "No room open";
    $("room-topic").textContent = "";
    $("room-tools").hidden = true;
    $("load-older").hidden = true;
    $("jump-latest").hidden = true;
    $("typing").textContent = "";
    setComposerEnabled(false);
  }

  /** Opens a room at its newest messages, or around one message (a search hit). */
  async function openRoom(roomId, around = null) {
    closeRoom();
    const seq = state.roomSeq;
    state.currentRoomId = roomId;
    sessionStorage.setItem(KEYS.room, String(roomId));
    renderRoomHeader();
    renderRooms();
    setComposerEnabled(true);
    const list = $("messages");
    list.setAttribute("aria-busy", "true");
    const streaming = sock.lastPosition !== null;
    try {
      const query = around ? `around=${around}&limit=${PAGE}` : `limit=${PAGE}`;
      const [messages] = await Promise.all([
        api("GET", `/api/v1/rooms/${roomId}/messages?${query}`),
        loadMembers(roomId, seq),
      ]);
      if (seq !== state.roomSeq) return;
      for (const m of messages) state.messages.set(m.id, m);
      const summary = state.rooms.get(roomId);
      const newest = messages.length ? messages[messages.length - 1].id : 0;
      state.detached = Boolean(around) && !!summary && !!summary.last_message && summary.last_message.id > newest;
      state.hasOlder = around ? messages.length > 0 : messages.length === PAGE;
      renderAllMessages();
      if (around) highlight(around);
      else scrollToBottom();
      // The stream started while this page was read: fetch what may have come between the two.
      if (!streaming && sock.lastPosition !== null) catchUpCurrentRoom();
      markReadSoon();
    } catch (err) {
      if (seq === state.roomSeq) showApiError(err);
    } finally {
      list.setAttribute("aria-busy", "false");
    }
  }

  function renderRoomHeader() {
    const summary = state.rooms.get(state.currentRoomId);
    if (!summary) return;
    const room = summary.room;
    $("room-title").textContent = room.name;
    $("room-topic").textContent = room.topic || (room.kind === "direct" ? "Direct messages" : `${room.visibility} room`);
    $("room-tools").hidden = false;
    $("add-member-form").hidden = room.kind === "direct";
  }

  async function loadMembers(roomId, seq) {
    const members = await api("GET", `/api/v1/rooms/${roomId}/members`);
    if (seq !== state.roomSeq) return;
    state.members = new Map(members.map((m) => [m.user_id, m]));
    for (const m of members) learnUser(m.user_id, m.username);
    renderMembers();
    fetchPresence(members.map((m) => m.user_id)).catch(showApiError);
  }

  function renderMembers() {
    const members = [...state.members.values()].sort((a, b) => a.username.localeCompare(b.username));
    $("member-count").textContent = `(${members.length})`;
    $("member-list").replaceChildren(...members.map((m) => el("li", { class: "member", "data-user-id": m.user_id },
      presenceDot(m.user_id),
      el("span", { class: "member-name", text: m.username }),
      m.role !== "member" ? el("span", { class: "role", text: m.role }) : null,
      el("span", { class: "visually-hidden presence-text", "data-presence-text": m.user_id, text: presenceLabel(m.user_id) }))));
  }

  function myRoleHere() {
    const summary = state.rooms.get(state.currentRoomId);
    return summary ? summary.role : "member";
  }

  /** After the first `ready`, fetches what the open room got between its history load and the stream's start. */
  async function catchUpCurrentRoom() {
    const roomId = state.currentRoomId;
    const seq = state.roomSeq;
    const newest = newestStoredId();
    if (!roomId || state.detached || !newest) return;
    try {
      const messages = await api("GET", `/api/v1/rooms/${roomId}/messages?after=${newest}&limit=100`);
      if (seq !== state.roomSeq) return;
      for (const m of messages) if (!state.messages.has(m.id)) upsertMessage(m);
      if (messages.length) scrollToBottom();
      markReadSoon();
    } catch (err) {
      showApiError(err);
    }
  }

  async function loadOlder() {
    if (!state.hasOlder || state.loadingOlder || !state.currentRoomId) return;
    const oldest = Math.min(...state.messages.keys());
    if (!Number.isFinite(oldest)) return;
    const seq = state.roomSeq;
    state.loadingOlder = true;
    const list = $("messages");
    list.setAttribute("aria-busy", "true");
    try {
      const messages = await api("GET", `/api/v1/rooms/${state.currentRoomId}/messages?before=${oldest}&limit=${PAGE}`);
      if (seq !== state.roomSeq) return;
      // Keep the view where it is: the list grows above, so scrollTop grows by the added height.
      const height = list.scrollHeight;
      const top = list.scrollTop;
      const fresh = messages.filter((m) => !state.messages.has(m.id));
      for (const m of fresh) state.messages.set(m.id, m);
      const fragment = document.createDocumentFragment();
      for (const m of fresh) fragment.append(messageItem(m));
      list.prepend(fragment);
      list.scrollTop = top + (list.scrollHeight - height);
      state.hasOlder = messages.length === PAGE;
    } catch (err) {
      showApiError(err);
    } finally {
      state.loadingOlder = false;
      list.setAttribute("aria-busy", "false");
      $("load-older").hidden = !state.hasOlder;
    }
  }

  function onMessagesScroll() {
    const list = $("messages");
    if (list.scrollTop < 60) loadOlder();
  }

  function isNearBottom() {
    const list = $("messages");
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function scrollToBottom() {
    const list = $("messages");
    list.scrollTop = list.scrollHeight;
  }

  function highlight(messageId) {
    const item = findMessageItem(messageId);
    if (!item) return;
    item.classList.add("highlight");
    item.scrollIntoView({ block: "center" });
    setTimeout(() => item.classList.remove("highlight"), 4000);
  }

  function newestStoredId() {
    let newest = 0;
    for (const id of state.messages.keys()) if (id > newest) newest = id;
    return newest;
  }

  // Mark read: when the room is open, the window focused, and there is something newer than what was marked.
  const markReadSoon = debounce(markRead, 300);
  function markRead() {
    const roomId = state.currentRoomId;
    if (!roomId || !isWatching(roomId)) return;
    const newest = newestStoredId();
    const summary = state.rooms.get(roomId);
    if (summary && summary.unread_count) {
      summary.unread_count = 0;
      renderRooms();
    }
    if (!newest || (state.readSent.get(roomId) || 0) >= newest) return;
    state.readSent.set(roomId, newest);
    api("POST", `/api/v1/rooms/${roomId}/read`, { body: { message_id: newest } }).catch((err) => {
      state.readSent.delete(roomId);
      showApiError(err);
    });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Messages

  function findMessageItem(id) {
    return $("messages").querySelector(`li.message[data-message-id="${Number(id)}"]`);
  }

  function renderAllMessages() {
    const list = $("messages");
    const sorted = [...state.messages.values()].sort((a, b) => a.id - b.id);
    list.replaceChildren(...sorted.map(messageItem));
    for (const p of state.pending.values()) if (p.roomId === state.currentRoomId) list.append(pendingItem(p));
    $("load-older").hidden = !state.hasOlder;
    $("jump-latest").hidden = !state.detached;
    if (!sorted.length && !list.children.length) list.append(el("li", { class: "empty", text: "No messages yet. Say hello!" }));
  }

  /**
   * Adds or updates a message of the open room, in id order. keepReactions: the message comes from a REST answer,
   * whose reaction list may be older than what the socket has applied since.
   */
  function upsertMessage(m, keepReactions = false) {
    const old = state.messages.get(m.id);
    const message = old && keepReactions && sock.ready ? { ...m, reactions: old.reactions } : m;
    state.messages.set(m.id, message);
    learnUser(m.user_id, m.username);
    const existing = findMessageItem(m.id);
    if (existing) {
      fillMessage(existing, message);
      return;
    }
    const list = $("messages");
    for (const empty of list.querySelectorAll("li.empty")) empty.remove();
    if (m.client_id) {
      const pendingEl = list.querySelector(`li.pending[data-client-id="${CSS.escape(m.client_id)}"]`);
      if (pendingEl) pendingEl.remove();
    }
    const item = messageItem(message);
    // Insert before the first later message (or the first unsent one); usually this is the end.
    let before = null;
    for (const child of list.children) {
      const id = Number(child.dataset.messageId);
      if (child.classList.contains("pending") || (id && id > m.id)) {
        before = child;
        break;
      }
    }
    list.insertBefore(item, before);
  }

  function messageItem(m) {
    const li = el("li", { class: "message", "data-message-id": m.id });
    li.append(
      el("div", { class: "meta" },
        presenceDot(m.user_id),
        el("span", { class: "author" }),
        el("time", { class: "time" }),
        el("span", { class: "edited" })),
      el("blockquote", { class: "reply-quote", hidden: true }),
      el("div", { class: "content" }),
      el("ul", { class: "attachments" }),
      el("div", { class: "reactions", role: "group", "aria-label": "Reactions" }),
      el("div", { class: "actions" },
        el("button", { type: "button", class: "reply-button", text: "Reply" }),
        el("button", { type: "button", class: "react-button", "aria-label": "Add reaction", "aria-expanded": "false", "aria-haspopup": "true", text: "☺+" }),
        el("button", { type: "button", class: "edit-button", text: "Edit" }),
        el("button", { type: "button", class: "delete-button", text: "Delete" })),
    );
    fillMessage(li, m);
    return li;
  }

  /** Writes a message's current state into its element (which keeps its place, buttons and open picker). */
  function fillMessage(li, m) {
    if (!li) return;
    const own = m.user_id === me();
    const deleted = Boolean(m.deleted_at);
    const moderator = ["owner", "admin"].includes(myRoleHere());
    li.classList.toggle("own", own);
    li.classList.toggle("deleted", deleted);
    li.querySelector(".author").textContent = m.username || state.users.get(m.user_id) || `user ${m.user_id}`;
    const time = li.querySelector(".time");
    time.dateTime = m.created_at;
    time.textContent = formatTime(m.created_at);
    time.title = new Date(m.created_at).toLocaleString();
    li.querySelector(".edited").textContent = m.edited_at && !deleted ? "(edited)" : "";
    fillQuote(li, m);
    const content = li.querySelector(".content");
    content.textContent = deleted ? "This message was deleted." : m.content;
    fillAttachments(li.querySelector(".attachments"), deleted ? [] : m.attachments || []);
    fillReactions(li.querySelector(".reactions"), deleted ? [] : m.reactions || []);
    li.querySelector(".reply-button").hidden = deleted;
    li.querySelector(".react-button").hidden = deleted;
    li.querySelector(".edit-button").hidden = deleted || !own;
    li.querySelector(".delete-button").hidden = deleted || !(own || moderator);
    if (deleted && state.picker && state.picker.messageId === m.id) closePicker();
  }

  function fillQuote(li, m) {
    const quote = li.querySelector(".reply-quote");
    if (!m.reply_to) {
      quote.hidden = true;
      delete li.dataset.replyTo;
      return;
    }
    li.dataset.replyTo = String(m.reply_to);
    const parent = state.messages.get(m.reply_to) || state.parents.get(m.reply_to);
    quote.hidden = false;
    if (!parent) {
      quote.textContent = "↩ …";
      fetchParent(m.reply_to);
      return;
    }
    const text = parent.deleted_at ? "deleted message" : parent.content || "(attachment)";
    quote.replaceChildren(
      el("span", { class: "visually-hidden", text: "In reply to " }),
      el("strong", { class: "quote-author", text: parent.username }),
      ": ",
      el("span", { class: "quote-text", text: text.length > 140 ? text.slice(0, 140) + "…" : text }));
  }

  const fetchingParents = new Set();
  async function fetchParent(id) {
    if (fetchingParents.has(id)) return;
    fetchingParents.add(id);
    try {
      const parent = await api("GET", `/api/v1/messages/${id}`);
      state.parents.set(id, parent);
    } catch (_) {
      state.parents.set(id, { id, username: "", content: "original message unavailable", deleted_at: null });
    }
    refreshQuotesOf({ id });
  }

  function refreshQuotesOf(parent) {
    if (state.parents.has(parent.id) && parent.content !== undefined) state.parents.set(parent.id, parent);
    for (const item of $("messages").querySelectorAll(`li.message[data-reply-to="${Number(parent.id)}"]`)) {
      const m = state.messages.get(Number(item.dataset.messageId));
      if (m) fillQuote(item, m);
    }
  }

  function fillAttachments(list, attachments) {
    list.replaceChildren(...attachments.map((a) => {
      const link = el("a", {
        class: "attachment-link",
        href: `/api/v1/attachments/${a.id}`,
        "data-attachment-id": a.id,
        "data-filename": a.filename,
        download: a.filename,
      }, `📎 ${a.filename}`, el("span", { class: "size", text: ` (${formatSize(a.size)})` }));
      return el("li", { class: "attachment" }, link);
    }));
  }

  /** Downloads need the bearer header: fetch the bytes, then hand them to the browser through an object URL. */
  async function downloadAttachment(link) {
    try {
      const blob = await api("GET", `/api/v1/attachments/${Number(link.dataset.attachmentId)}`, { blob: true });
      const url = URL.createObjectURL(blob);
      const temp = el("a", { href: url, download: link.dataset.filename || "download", class: "visually-hidden" });
      document.body.append(temp);
      temp.click();
      temp.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (err) {
      showApiError(err);
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Reactions

  /** One button per emoji, updated in place (a count changes, the button stays: focus and references survive). */
  function fillReactions(container, reactions) {
    const existing = new Map([...container.querySelectorAll(".reaction")].map((b) => [b.dataset.emoji, b]));
    const shown = reactions.filter((r) => r.count > 0);
    shown.forEach((r, index) => {
      let button = existing.get(r.emoji);
      existing.delete(r.emoji);
      if (!button) {
        button = el("button", { type: "button", class: "reaction", "data-emoji": r.emoji }, `${r.emoji} `, el("span", { class: "count" }));
      }
      const mine = r.user_ids.includes(me());
      button.classList.toggle("mine", mine);
      button.setAttribute("aria-pressed", mine ? "true" : "false");
      button.title = r.user_ids.map((id) => state.users.get(id) || `user ${id}`).join(", ");
      const count = button.querySelector(".count");
      if (count.textContent !== String(r.count)) count.textContent = String(r.count);
      if (container.children[index] !== button) container.insertBefore(button, container.children[index] || null);
    });
    for (const gone of existing.values()) gone.remove();
  }

  /** Applies one user's reaction change; idempotent, so an event and our own answer may both arrive. */
  function applyReaction(messageId, emoji, userId, added) {
    const m = state.messages.get(messageId);
    if (!m) return;
    const reactions = (m.reactions || []).map((r) => ({ ...r, user_ids: [...r.user_ids] }));
    let entry = reactions.find((r) => r.emoji === emoji);
    if (added) {
      if (!entry) {
        entry = { emoji, count: 0, user_ids: [] };
        reactions.push(entry);
      }
      if (!entry.user_ids.includes(userId)) entry.user_ids.push(userId);
      entry.count = entry.user_ids.length;
    } else if (entry) {
      entry.user_ids = entry.user_ids.filter((id) => id !== userId);
      entry.count = entry.user_ids.length;
    }
    m.reactions = reactions.filter((r) => r.count > 0);
    const item = findMessageItem(messageId);
    if (item) fillReactions(item.querySelector(".reactions"), m.deleted_at ? [] : m.reactions);
  }

  async function toggleReaction(messageId, emoji) {
    const m = state.messages.get(messageId);
    if (!m) return;
    const entry = (m.reactions || []).find((r) => r.emoji === emoji);
    const mine = Boolean(entry && entry.user_ids.includes(me()));
    try {
      if (mine) await api("DELETE", `/api/v1/messages/${messageId}/reactions?emoji=${encodeURIComponent(emoji)}`);
      else await api("POST", `/api/v1/messages/${messageId}/reactions`, { body: { emoji } });
      applyReaction(messageId, emoji, me(), !mine);
    } catch (err) {
      showApiError(err);
    }
  }

  function openPicker(item, button) {
    closePicker();
    const messageId = Number(item.dataset.messageId);
    const picker = el("div", { class: "emoji-picker", role: "group", "aria-label": "Choose a reaction" },
      ...EMOJI.map((e) => el("button", { type: "button", class: "emoji-choice", "data-emoji": e, title: `React with ${e}`, text: e })));
    item.append(picker);
    button.setAttribute("aria-expanded", "true");
    state.picker = { picker, button, messageId };
    picker.querySelector("button").focus();
  }

  function closePicker(returnFocus = false) {
    if (!state.picker) return;
    const { picker, button } = state.picker;
    state.picker = null;
    picker.remove();
    button.setAttribute("aria-expanded", "false");
    if (returnFocus && button.isConnected) button.focus();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Clicks inside the message list (one delegated listener)

  function onMessagesClick(event) {
    const target = event.target.closest("button, a");
    if (!target) return;
    const item = target.closest("li.message");
    const messageId = item ? Number(item.dataset.messageId) : null;
    const m = messageId ? state.messages.get(messageId) : null;
    if (target.classList.contains("attachment-link")) {
      event.preventDefault();
      downloadAttachment(target);
    } else if (target.classList.contains("emoji-choice")) {
      const emoji = target.dataset.emoji;
      closePicker(true);
      toggleReaction(messageId, emoji);
    } else if (target.classList.contains("reaction")) {
      toggleReaction(messageId, target.dataset.emoji);
    } else if (target.classList.contains("react-button")) {
      if (state.picker && state.picker.messageId === messageId) closePicker(true);
      else openPicker(item, target);
    } else if (target.classList.contains("reply-button") && m) {
      startReply(m);
    } else if (target.classList.contains("edit-button") && m) {
      startEdit(m);
    } else if (target.classList.contains("delete-button") && m) {
      deleteMessage(m);
    } else if (target.classList.contains("retry-send")) {
      const p = state.pending.get(item.dataset.clientId);
      if (p) deliver(p);
    } else if (target.classList.contains("discard-send")) {
      const p = state.pending.get(item.dataset.clientId);
      if (p) discardPending(p);
    }
  }

  async function deleteMessage(m) {
    try {
      const updated = await api("DELETE", `/api/v1/messages/${m.id}`);
      if (updated && updated.room_id === state.currentRoomId) upsertMessage(updated, true);
      notice("Message deleted.");
      if (state.editingId === m.id) cancelComposerMode();
    } catch (err) {
      showApiError(err);
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Composer: send, reply, edit, typing, attachments

  function setComposerEnabled(enabled) {
    for (const id of ["message-input", "send-button", "attachment-input"]) $(id).disabled = !enabled;
  }

  function startReply(m) {
    cancelComposerMode();
    state.replyTo = m;
    const text = m.content ? (m.content.length > 80 ? m.content.slice(0, 80) + "…" : m.content) : "(attachment)";
    showComposerContext(`Replying to ${m.username}: ${text}`);
    $("message-input").focus();
  }

  function startEdit(m) {
    cancelComposerMode();
    state.editingId = m.id;
    $("message-input").value = m.content;
    $("send-button").textContent = "Save";
    $("attachment-input").disabled = true;
    showComposerContext("Editing your message (Escape cancels)");
    $("message-input").focus();
  }

  function showComposerContext(text) {
    $("composer-context-text").textContent = text;
    $("composer-context").hidden = false;
  }

  function cancelComposerMode() {
    if (state.editingId) $("message-input").value = "";
    state.replyTo = null;
    state.editingId = null;
    $("composer-context").hidden = true;
    $("composer-context-text").textContent = "";
    $("send-button").textContent = "Send";
    $("attachment-input").disabled = !state.currentRoomId;
  }

  async function onComposerSubmit(event) {
    event.preventDefault();
    const roomId = state.currentRoomId;
    if (!roomId) return;
    const input = $("message-input");
    const content = input.value.replace(/\s+$/, "");
    if (state.editingId) return saveEdit(state.editingId, content);
    const files = Array.from($("attachment-input").files || []);
    const replyTo = state.replyTo ? state.replyTo.id : null;
    if (!content.trim() && !files.length) return;
    if (files.length > 20) return showError("At most 20 files per message.");
    if (state.detached) await openRoom(roomId); // back to the live tail, where the new message will appear
    let attachmentIds = [];
    if (files.length) {
      try {
        $("send-button").disabled = true;
        attachmentIds = await uploadFiles(roomId, files);
      } catch (err) {
        return showApiError(err);
      } finally {
        $("send-button").disabled = !state.currentRoomId;
      }
      $("attachment-input").value = "";
    }
    const p = {
      clientId: uuid(), // made once: every retry of this message carries it, so the server stores it once
      roomId,
      content,
      replyTo,
      attachmentIds,
      status: "sending",
      timer: null,
    };
    input.value = "";
    cancelComposerMode();
    state.pending.set(p.clientId, p);
    if (roomId === state.currentRoomId) {
      for (const empty of $("messages").querySelectorAll("li.empty")) empty.remove();
      $("messages").append(pendingItem(p));
      scrollToBottom();
    }
    deliver(p);
  }

  /** Sends a pending message over the socket when it is ready (attachments go over REST), else over REST. */
  function deliver(p) {
    clearTimeout(p.timer);
    p.status = "sending";
    renderPendingState(p);
    const frame = { type: "send", room_id: p.roomId, content: p.content, client_id: p.clientId, ref: p.clientId };
    if (p.replyTo) frame.reply_to = p.replyTo;
    if (!p.attachmentIds.length && sendFrame(frame)) {
      // No ack in time: the same client_id over REST; a message already stored comes back as it is (200).
      p.timer = setTimeout(() => { if (state.pending.has(p.clientId)) sendOverRest(p); }, ACK_TIMEOUT_MS);
      return;
    }
    sendOverRest(p);
  }

  async function sendOverRest(p) {
    const body = { content: p.content, client_id: p.clientId };
    if (p.replyTo) body.reply_to = p.replyTo;
    if (p.attachmentIds.length) body.attachment_ids = p.attachmentIds;
    try {
      const m = await api("POST", `/api/v1/rooms/${p.roomId}/messages`, { body });
      onMessageStored(m);
    } catch (err) {
      if (!state.pending.has(p.clientId)) return;
      // Unreachable (or a gateway in front says so): kept, and sent again when the socket is back.
      // Refused by the server: shown, and kept for a manual retry or discard.
      p.status = [0, 502, 503, 504].includes(err.status) ? "failed" : "error";
      renderPendingState(p);
      showApiError(err);
    }
  }

  /** A send is stored (ack, REST answer or our own message.created event): the pending entry becomes the message. */
  function onMessageStored(m) {
    const p = state.pending.get(m.client_id);
    if (p) {
      clearTimeout(p.timer);
      state.pending.delete(m.client_id);
    }
    if (m.room_id === state.currentRoomId && !state.detached) {
      upsertMessage(m, true);
      scrollToBottom();
    }
    const summary = state.rooms.get(m.room_id);
    if (summary && (!summary.last_message || summary.last_message.id <= m.id)) {
      summary.last_message = m;
      renderRooms();
    }
  }

  function discardPending(p) {
    clearTimeout(p.timer);
    state.pending.delete(p.clientId);
    const item = $("messages").querySelector(`li.pending[data-client-id="${CSS.escape(p.clientId)}"]`);
    if (item) item.remove();
  }

  function pendingItem(p) {
    const li = el("li", { class: "message pending own", "data-client-id": p.clientId },
      el("div", { class: "meta" },
        el("span", { class: "author", text: state.user ? state.user.username : "me" }),
        el("span", { class: "send-state" })),
      el("div", { class: "content", text: p.content || `(${p.attachmentIds.length} attachment${p.attachmentIds.length === 1 ? "" : "s"})` }),
      el("div", { class: "actions" },
        el("button", { type: "button", class: "retry-send", text: "Retry", hidden: true }),
        el("button", { type: "button", class: "discard-send", text: "Discard", hidden: true })));
    fillPendingState(li, p);
    return li;
  }

  function renderPendingState(p) {
    const item = $("messages").querySelector(`li.pending[data-client-id="${CSS.escape(p.clientId)}"]`);
    if (item) fillPendingState(item, p);
  }

  function fillPendingState(li, p) {
    const labels = { sending: "sending…", failed: "not sent: waiting for the connection", error: "not sent" };
    li.querySelector(".send-state").textContent = labels[p.status] || "";
    li.classList.toggle("failed", p.status !== "sending");
    li.querySelector(".retry-send").hidden = p.status === "sending";
    li.querySelector(".discard-send").hidden = p.status === "sending";
  }

  async function saveEdit(id, content) {
    if (!content.trim()) return showError("A message cannot be empty: use Delete to remove it.");
    try {
      const m = await api("PATCH", `/api/v1/messages/${id}`, { body: { content } });
      if (m.room_id === state.currentRoomId) upsertMessage(m, true);
      cancelComposerMode();
      $("message-input").value = "";
    } catch (err) {
      showApiError(err);
    }
  }

  async function uploadFiles(roomId, files) {
    const ids = [];
    for (const file of files) {
      notice(`Uploading ${file.name}…`);
      const attachment = await api("POST", `/api/v1/rooms/${roomId}/attachments?filename=${encodeURIComponent(file.name)}`, {
        body: file,
        contentType: file.type || "application/octet-stream",
      });
      ids.push(attachment.id);
    }
    notice(files.length === 1 ? "File uploaded." : `${files.length} files uploaded.`);
    return ids;
  }

  function onComposerKey(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.altKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      $("composer").requestSubmit();
    } else if (event.key === "Escape" && (state.editingId || state.replyTo)) {
      event.stopPropagation();
      cancelComposerMode();
    }
  }

  /** At most one typing frame per TYPING_SEND_EVERY_MS while the user types. */
  function onComposerInput() {
    const now = Date.now();
    if (!state.currentRoomId || state.editingId || !$("message-input").value) return;
    if (now - state.lastTypingSent < TYPING_SEND_EVERY_MS) return;
    if (sendFrame({ type: "typing", room_id: state.currentRoomId })) state.lastTypingSent = now;
  }

  function onTyping(frame) {
    if (frame.user_id === me()) return;
    const previous = state.typing.get(frame.user_id);
    if (previous) clearTimeout(previous.timer);
    state.typing.set(frame.user_id, {
      roomId: frame.room_id,
      timer: setTimeout(() => stopTyping(frame.user_id), TYPING_SHOW_MS),
    });
    renderTyping();
  }

  function stopTyping(userId) {
    const entry = state.typing.get(userId);
    if (!entry) return;
    clearTimeout(entry.timer);
    state.typing.delete(userId);
    renderTyping();
  }

  function renderTyping() {
    const names = [];
    for (const [userId, entry] of state.typing) {
      if (entry.roomId === state.currentRoomId) names.push(state.users.get(userId) || "Someone");
    }
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = "Several people are typing…";
    $("typing").textContent = text;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Presence

  function presenceLabel(userId) {
    const status = state.presence.get(userId);
    return status ? status : "status unknown";
  }

  function presenceDot(userId) {
    return el("span", {
      class: `presence-dot ${state.presence.get(userId) || "unknown"}`,
      "data-presence-user": userId,
      title: presenceLabel(userId),
      "aria-hidden": "true",
    });
  }

  async function fetchPresence(ids) {
    const unique = [...new Set(ids)].filter((id) => Number.isInteger(id));
    for (let i = 0; i < unique.length; i += 200) {
      const chunk = unique.slice(i, i + 200);
      const list = await api("GET", `/api/v1/users/presence?user_ids=${chunk.join(",")}`);
      for (const entry of list) setPresence(entry.user_id, entry.status);
    }
  }

  function setPresence(userId, status) {
    state.presence.set(userId, status);
    for (const dot of document.querySelectorAll(`[data-presence-user="${Number(userId)}"]`)) {
      dot.classList.remove("online", "offline", "unknown");
      dot.classList.add(status === "online" ? "online" : "offline");
      dot.title = status;
    }
    for (const label of document.querySelectorAll(`[data-presence-text="${Number(userId)}"]`)) label.textContent = status;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Search

  async function onSearch(event) {
    event.preventDefault();
    const q = $("search-input").value.trim();
    if (!q) return;
    const params = new URLSearchParams({ q, limit: "30" });
    if ($("search-room-only").checked && state.currentRoomId) params.set("room", String(state.currentRoomId));
    await withButton($("search-submit"), async () => {
      const answer = await api("GET", `/api/v1/search?${params}`);
      renderSearch(answer.results || []);
    });
  }

  function renderSearch(results) {
    const list = $("search-results");
    list.replaceChildren(...results.map(({ message, snippet }) => {
      const summary = state.rooms.get(message.room_id);
      const text = snippetNodes(snippet) || document.createTextNode(message.content);
      return el("li", {},
        el("button", { type: "button", class: "search-result", "data-room-id": message.room_id, "data-message-id": message.id },
          el("span", { class: "search-meta", text: `${summary ? summary.room.name : "room " + message.room_id} · ${message.username} · ${formatTime(message.created_at)}` }),
          el("span", { class: "snippet" }, text)));
    }));
    if (!results.length) list.append(el("li", { class: "empty", text: "No messages match." }));
    $("search-panel").hidden = false;
  }

  /**
   * The server's snippet is HTML-escaped text with <mark> around matches. Rather than innerHTML, it is split on
   * the two tags; any other "<" or ">" means it is not what we expect, and the plain message is shown instead.
   */
  function snippetNodes(html) {
    if (typeof html !== "string") return null;
    const parts = html.split(/(<mark>|<\/mark>)/);
    if (parts.some((part) => part !== "<mark>" && part !== "</mark>" && /[<>]/.test(part))) return null;
    const fragment = document.createDocumentFragment();
    let mark = null;
    for (const part of parts) {
      if (part === "<mark>") {
        mark = el("mark");
        fragment.append(mark);
      } else if (part === "</mark>") {
        mark = null;
      } else if (part) {
        (mark || fragment).append(decodeEntities(part));
      }
    }
    return fragment;
  }

  function decodeEntities(text) {
    const named = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'" };
    return text.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos);/gi, (whole, name) => {
      if (name[0] === "#") {
        const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
      }
      return named[name.toLowerCase()];
    });
  }

  async function onSearchResultClick(event) {
    const button = event.target.closest(".search-result");
    if (!button) return;
    const roomId = Number(button.dataset.roomId);
    const messageId = Number(button.dataset.messageId);
    if (!state.rooms.has(roomId)) await loadRooms().catch(showApiError);
    $("search-panel").hidden = true;
    await openRoom(roomId, messageId);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Operations (admin API, with an admin API key rather than the chat session)

  function openOps() {
    closePicker();
    $("chat").hidden = true;
    $("search-panel").hidden = true;
    $("ops").hidden = false;
    const key = sessionStorage.getItem(KEYS.opsKey) || "";
    if (!$("ops-key").value) $("ops-key").value = key;
    if ($("ops-key").value) loadOps();
    else $("ops-key").focus();
  }

  function closeOps() {
    $("ops").hidden = true;
    $("chat").hidden = false;
    $("ops-open").focus();
  }

  function opsKey() {
    const key = $("ops-key").value.trim();
    sessionStorage.setItem(KEYS.opsKey, key);
    return key || null;
  }

  async function loadOps(more = false) {
    const params = new URLSearchParams({ limit: "50" });
    const status = $("ops-status").value;
    if (status) params.set("status", status);
    if (more && ops.nextBefore) params.set("before", ops.nextBefore);
    $("ops-info").textContent = "Loading…";
    try {
      const page = await api("GET", `/api/v1/admin/messages?${params}`, { key: opsKey() });
      const rows = page.messages.map(opsRow);
      if (more) $("ops-rows").append(...rows);
      else $("ops-rows").replaceChildren(...rows);
      if (!more && !rows.length) {
        $("ops-rows").append(el("tr", {}, el("td", { colspan: 7, class: "empty", text: "No stored messages" + (status ? ` with status ${status}.` : ".") })));
      }
      clearError();
      ops.nextBefore = page.next_before || null;
      $("ops-more").hidden = !ops.nextBefore;
      $("ops-info").textContent = `${$("ops-rows").querySelectorAll("tr[data-message-id]").length} message(s) shown.`;
    } catch (err) {
      if (!more) $("ops-rows").replaceChildren();
      $("ops-more").hidden = true;
      $("ops-info").textContent = err.message;
      showApiError(err);
    }
  }

  function opsRow(m) {
    const retryable = m.status === "failed" || m.status === "retrying";
    const error = [m.last_status_code ? `HTTP ${m.last_status_code}` : "", m.last_error || ""].filter(Boolean).join(": ");
    return el("tr", { "data-message-id": m.message_id, class: `status-${m.status}` },
      el("td", {}, el("code", { text: m.message_id })),
      el("td", { text: m.route }),
      el("td", {}, el("span", { class: `badge ${m.status}`, text: m.status })),
      el("td", { class: "num", text: String(m.attempts) }),
      el("td", {}, el("time", { datetime: m.accepted_at, text: new Date(m.accepted_at).toLocaleString() })),
      el("td", { class: "error-cell", text: error }),
      el("td", {}, retryable ? el("button", { type: "button", class: "ops-retry", "data-message-id": m.message_id, text: "Retry" }) : null));
  }

  async function retryOne(button) {
    const id = button.dataset.messageId;
    await withButton(button, async () => {
      try {
        await api("POST", `/api/v1/admin/messages/${encodeURIComponent(id)}/retry`, { key: opsKey() });
      } catch (err) {
        $("ops-info").textContent = err.message;
        throw err;
      }
      notice(`Message ${id} is pending again.`);
      await loadOps();
    });
  }

  async function retryAllFailed() {
    await withButton($("ops-retry-failed"), async () => {
      let answer;
      try {
        answer = await api("POST", "/api/v1/admin/messages/retry-failed", { key: opsKey() });
      } catch (err) {
        $("ops-info").textContent = err.message;
        throw err;
      }
      notice(`Retried ${answer.retried} failed message(s).`);
      await loadOps();
    });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Wiring

  function onGlobalKey(event) {
    if (event.key !== "Escape") return;
    if (state.picker) {
      closePicker(true);
    } else if (!$("search-panel").hidden) {
      $("search-panel").hidden = true;
      $("search-input").focus();
    } else if (!$("ops").hidden) {
      closeOps();
    }
  }

  function onDocumentClick(event) {
    if (state.picker && !state.picker.picker.contains(event.target) && !state.picker.button.contains(event.target)) closePicker();
  }

  function wire() {
    $("login-form").addEventListener("submit", onLogin);
    $("register-form").addEventListener("submit", onRegister);
    $("logout-button").addEventListener("click", onLogout);
    $("error-dismiss").addEventListener("click", clearError);
    $("room-list").addEventListener("click", (event) => {
      const item = event.target.closest(".room-open") && event.target.closest(".room");
      if (item) openRoom(Number(item.dataset.roomId));
    });
    $("new-room-form").addEventListener("submit", onCreateRoom);
    $("browse-rooms").addEventListener("toggle", () => { if ($("browse-rooms").open) loadPublicRooms(); });
    $("public-rooms").addEventListener("click", (event) => {
      const button = event.target.closest(".join-button");
      if (button) joinRoom(Number(button.dataset.roomId), button);
    });
    $("direct").addEventListener("toggle", () => { if ($("direct").open) loadDirectChoices(); });
    $("dm-form").addEventListener("submit", onDirect);
    $("add-member-form").addEventListener("submit", onAddMember);
    $("leave-room").addEventListener("click", onLeave);
    $("messages").addEventListener("click", onMessagesClick);
    $("messages").addEventListener("scroll", onMessagesScroll, { passive: true });
    $("load-older").addEventListener("click", loadOlder);
    $("jump-latest").addEventListener("click", () => { if (state.currentRoomId) openRoom(state.currentRoomId); });
    $("composer").addEventListener("submit", onComposerSubmit);
    $("message-input").addEventListener("keydown", onComposerKey);
    $("message-input").addEventListener("input", onComposerInput);
    $("composer-cancel").addEventListener("click", () => { cancelComposerMode(); $("message-input").focus(); });
    $("search-form").addEventListener("submit", onSearch);
    $("search-results").addEventListener("click", onSearchResultClick);
    $("search-close").addEventListener("click", () => { $("search-panel").hidden = true; });
    $("ops-open").addEventListener("click", openOps);
    $("ops-close").addEventListener("click", closeOps);
    $("ops-form").addEventListener("submit", (event) => { event.preventDefault(); loadOps(); });
    $("ops-status").addEventListener("change", () => loadOps());
    $("ops-more").addEventListener("click", () => loadOps(true));
    $("ops-retry-failed").addEventListener("click", retryAllFailed);
    $("ops-rows").addEventListener("click", (event) => {
      const button = event.target.closest(".ops-retry");
      if (button) retryOne(button);
    });
    document.addEventListener("keydown", onGlobalKey);
    document.addEventListener("click", onDocumentClick);
    window.addEventListener("focus", markReadSoon);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) markReadSoon(); });
    window.addEventListener("online", () => {
      if (state.access && !sock.ws) {
        sock.backoff = BACKOFF_MIN_MS;
        connectSocket();
      }
    });
    window.addEventListener("offline", () => { if (!sock.ready) setConnection("offline: reconnecting when the network is back…"); });
  }

  async function start() {
    wire();
    state.access = sessionStorage.getItem(KEYS.access);
    state.refresh = sessionStorage.getItem(KEYS.refresh);
    try {
      state.user = JSON.parse(sessionStorage.getItem(KEYS.user) || "null");
    } catch (_) {
      state.user = null;
    }
    if (!state.access) {
      $("auth").hidden = false;
      return;
    }
    try {
      state.user = await api("GET", "/api/v1/users/me");
      sessionStorage.setItem(KEYS.user, JSON.stringify(state.user));
      await enterApp();
    } catch (err) {
      if (state.access) {
        // The server is unreachable or failing: show the app anyway; the socket keeps trying.
        showApiError(err);
        if (state.user) {
          $("auth").hidden = true;
          $("app").hidden = false;
          $("current-user").textContent = state.user.username;
          connectSocket();
        } else {
          $("auth").hidden = false;
        }
      }
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
