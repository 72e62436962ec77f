// The "Try it" demo chat on an offering page: posts to /api/offerings/<uuid>/demo-chat and shows the
// answers as plain text (never as HTML). The conversation id lives in sessionStorage, per offering.
(function () {
  "use strict";

  function sessionId(offering) {
    var key = "cmp-demo-session:" + offering;
    var value = null;
    try { value = window.sessionStorage.getItem(key); } catch (error) { value = null; }
    if (!value) {
      var bytes = new Uint8Array(16);
      window.crypto.getRandomValues(bytes);
      value = Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
      try { window.sessionStorage.setItem(key, value); } catch (error) { /* private mode: one page only */ }
    }
    return value;
  }

  function addMessage(log, text, kind) {
    var message = document.createElement("p");
    message.className = "demo-chat-message is-" + kind;
    message.textContent = text;
    log.appendChild(message);
    log.scrollTop = log.scrollHeight;
    return message;
  }

  function setUp(box) {
    var endpoint = box.getAttribute("data-endpoint");
    var offering = box.getAttribute("data-offering");
    var form = box.querySelector(".demo-chat-form");
    var input = form.querySelector("input");
    var button = form.querySelector("button");
    var log = box.querySelector(".demo-chat-log");
    var status = box.querySelector(".demo-chat-status");

    function say(text, isError) {
      status.textContent = text;
      status.classList.toggle("is-error", Boolean(isError));
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = input.value.trim();
      if (!text) { input.focus(); return; }
      addMessage(log, text, "visitor");
      var pending = addMessage(log, "Thinking…", "agent is-pending");
      input.value = "";
      button.disabled = true;
      say("");
      fetch(endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        credentials: "same-origin",
        body: JSON.stringify({ input: text, session_id: sessionId(offering) })
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          return { ok: response.ok, status: response.status, body: body };
        });
      }).then(function (result) {
        if (result.ok) {
          pending.textContent = result.body.output || "(no answer)";
          pending.classList.remove("is-pending");
          var remaining = result.body.demo ? result.body.demo.remaining : null;
          if (remaining === 0) {
            say("That was the last free demo message for today. Choose a plan to keep chatting.");
            input.disabled = true;
          } else if (remaining !== null) {
            say(remaining + (remaining === 1 ? " free message" : " free messages") + " left today.");
          }
        } else {
          pending.remove();
          say(result.body.detail || "The demo could not answer. Please try again.", true);
          if (result.status === 429) { input.disabled = true; }
        }
      }).catch(function () {
        pending.remove();
        say("The demo could not be reached. Check your connection and try again.", true);
      }).then(function () {
        button.disabled = input.disabled;
        if (!input.disabled) { input.focus(); }
      });
    });
  }

  document.querySelectorAll("[data-demo-chat]").forEach(setUp);
})();
