// Buying credits in the Mini App: a pack's button asks the server for the pack's invoice link and
// Telegram shows the invoice (openInvoice); once paid, the balance is read again until the bot has
// credited it. What it says is the server's answer, or the page's (data-* of #buy-status).
(function () {
  var section = document.getElementById("buy");
  if (!section) return;
  var status = document.getElementById("buy-status");
  var balance = document.querySelector("#credits b");
  var buttons = section.querySelectorAll("button[data-pack]");
  var app = window.Telegram && window.Telegram.WebApp;

  function say(text) { status.textContent = text || ""; }

  function busy(on) {
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = on;
  }

  function answerOf(response) {
    return response.json().then(function (body) {
      return {ok: response.ok, body: body || {}};
    }, function () {
      return {ok: false, body: {}};
    });
  }

  // the bot credits a payment when Telegram tells it, a moment after the invoice says "paid"
  function refresh(before, tries) {
    fetch("credits", {credentials: "same-origin", cache: "no-store"}).then(answerOf).then(function (result) {
      var now = result.ok ? result.body.credits : undefined;
      if (now !== undefined && balance) balance.textContent = now;
      if ((now === undefined || now === before) && tries > 1) {
        window.setTimeout(function () { refresh(before, tries - 1); }, 1500);
      }
    }).catch(function () {
      if (tries > 1) window.setTimeout(function () { refresh(before, tries - 1); }, 1500);
    });
  }

  function opened(link) {
    var before = balance ? balance.textContent : undefined;
    if (!app || !app.openInvoice) {  // outside Telegram's app: the link opens the invoice in Telegram
      busy(false);
      window.location.href = link;
      return;
    }
    app.openInvoice(link, function (outcome) {
      busy(false);
      if (outcome === "paid" || outcome === "pending") {
        refresh(before, 10);
      } else if (outcome === "failed") {
        say(status.dataset.failed);
      }
    });
  }

  function buy(pack) {
    busy(true);
    say("");
    fetch("buy/" + encodeURIComponent(pack), {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: "{}",
      credentials: "same-origin"
    }).then(answerOf).then(function (result) {
      if (result.ok && result.body.link) {
        opened(result.body.link);
      } else {
        busy(false);
        say(result.body.error || status.dataset.failed);
      }
    }).catch(function () {
      busy(false);
      say(status.dataset.unreachable);
    });
  }

  for (var i = 0; i < buttons.length; i++) {
    buttons[i].addEventListener("click", function (event) {
      buy(event.currentTarget.dataset.pack);
    });
  }
})();
