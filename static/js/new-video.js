// New video form: shows the image inputs the chosen type needs, previews the chosen images,
// and shows the price live (GET data-price-url, the same quote the submit will hold).
(function () {
  "use strict";
  var form = document.getElementById("video-form");
  if (!form) return;
  var priceBox = document.getElementById("price-box");
  var priceUrl = form.getAttribute("data-price-url");
  var priced = ["mode", "model_tier", "aspect_ratio", "duration_seconds", "resolution", "generate_audio"];
  var catalogData = document.getElementById("model-catalog");
  var catalog = catalogData ? JSON.parse(catalogData.textContent) : [];
  var pending = null;

  function mode() {
    var checked = form.querySelector("input[name=mode]:checked");
    return checked ? checked.value : "text";
  }

  function showImageFields() {
    var current = mode();
    document.getElementById("image-fields").hidden = current === "text";
    document.getElementById("last-image-field").hidden = current !== "first_last";
  }

  function preview(input) {
    var img = document.getElementById(input.getAttribute("data-preview"));
    if (!img) return;
    if (img.src && img.src.indexOf("blob:") === 0) URL.revokeObjectURL(img.src);
    var file = input.files && input.files[0];
    if (file) {
      img.src = URL.createObjectURL(file);
      img.hidden = false;
    } else {
      img.removeAttribute("src");
      img.hidden = true;
    }
  }

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el) el.textContent = text;
  }

  function updatePrice() {
    var params = new URLSearchParams();
    priced.forEach(function (name) {
      var field = name === "mode" ? null : form.elements[name];
      var value = field ? (field.type === "checkbox" ? (field.checked ? "on" : "") : field.value) : "";
      params.set(name, name === "mode" ? mode() : value);
    });
    if (pending) pending.abort();
    pending = new AbortController();
    fetch(priceUrl + "?" + params.toString(), {
      credentials: "same-origin", headers: {"Accept": "application/json"}, signal: pending.signal
    }).then(function (response) { return response.json(); }).then(function (data) {
      var ok = data.credits !== null && data.credits !== undefined;
      priceBox.classList.toggle("unavailable", !ok || !data.affordable);
      priceBox.setAttribute("data-credits", ok ? String(data.credits) : "");
      setText("price-amount", ok ? String(data.credits) : "—");
      setText("price-available", String(data.available));
      setText("price-error", data.error || "");
      document.getElementById("price-short").hidden = !ok || data.affordable;
    }).catch(function (err) {
      if (err.name !== "AbortError") setText("price-error", String(err));
    });
  }

  // Durations, resolutions and sound the chosen model does not offer are disabled (the
  // catalog embedded in the page, the same list as /api/v1/models).
  function limitToModel() {
    var tier = form.elements.model_tier.value;
    var model = catalog.filter(function (m) { return m.tier === tier; })[0];
    if (!model) return;
    [["duration_seconds", model.durations.map(String)], ["resolution", model.resolutions]].forEach(function (pair) {
      Array.prototype.forEach.call(form.elements[pair[0]].options, function (option) {
        option.disabled = pair[1].indexOf(option.value) === -1;
      });
    });
    var audio = form.elements.generate_audio;
    if (audio && !model.audio_optional) audio.checked = model.audio;  // (sent: not disabled)
  }

  form.addEventListener("change", function (event) {
    var name = event.target.name;
    if (name === "model_tier") limitToModel();
    if (name === "mode") showImageFields();
    if (event.target.type === "file") preview(event.target);
    if (priced.indexOf(name) !== -1) updatePrice();
  });
  form.addEventListener("submit", function () {
    // One click, one job (the form token also makes a repeat the same job).
    var button = form.querySelector("button[type=submit]");
    window.setTimeout(function () { button.disabled = true; }, 0);
  });
  showImageFields();
  limitToModel();
  updatePrice();
})();
