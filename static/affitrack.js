/*! affitrack.js: first-party click tracking for an advertiser's site. No dependencies.
 *
 * 1. On the landing page it reads the click id that the tracking link put in
 *    the URL (`?click_id=...`, or the parameter you name) and keeps it in a
 *    first-party cookie on your own domain, so browsers that block
 *    third-party cookies still attribute the sale.
 * 2. On the thank-you page, `affitrack.convert({...})` fires the pixel
 *    `GET <endpoint>/v1/pixel.gif?...` with that click id and returns a
 *    Promise that settles when the image has loaded (or failed).
 *
 *   <script src="https://track.example.com/static/affitrack.js"
 *           data-param="click_id" data-cookie-days="30"></script>
 *
 * or, to configure from code: affitrack.init({endpoint: "https://track.example.com",
 * param: "click_id", cookieDays: 30}). The endpoint defaults to the origin the
 * script was loaded from. Full guide: docs/integration.md.
 */
(function (window, document) {
  "use strict";

  // A click id is ours (32 hex characters today); accept only a safe alphabet so a
  // crafted URL cannot write arbitrary text into the cookie.
  var CLICK_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
  var PIXEL_TIMEOUT_MS = 10000;

  var config = {
    endpoint: "",
    param: "click_id",
    cookieName: "affitrack_click_id",
    cookieDays: 30,
    cookieDomain: "",
    offer: ""
  };

  function scriptElement() {
    if (document.currentScript) {
      return document.currentScript;
    }
    var scripts = document.getElementsByTagName("script");
    for (var i = scripts.length - 1; i >= 0; i--) {
      if (/affitrack(\.min)?\.js(\?|$)/.test(scripts[i].src || "")) {
        return scripts[i];
      }
    }
    return null;
  }

  function originOf(url) {
    var match = /^(https?:\/\/[^/?#]+)/i.exec(url || "");
    return match ? match[1] : "";
  }

  function queryParam(name) {
    var query = window.location.search.replace(/^\?/, "");
    if (!query) {
      return "";
    }
    var pairs = query.split("&");
    for (var i = 0; i < pairs.length; i++) {
      var at = pairs[i].indexOf("=");
      var key = at < 0 ? pairs[i] : pairs[i].slice(0, at);
      if (decodeComponent(key) === name) {
        return at < 0 ? "" : decodeComponent(pairs[i].slice(at + 1));
      }
    }
    return "";
  }

  function decodeComponent(text) {
    try {
      return decodeURIComponent(text.replace(/\+/g, " "));
    } catch (error) {
      return "";
    }
  }

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split(";") : [];
    for (var i = 0; i < parts.length; i++) {
      var item = parts[i].replace(/^\s+/, "");
      if (item.indexOf(name + "=") === 0) {
        return decodeComponent(item.slice(name.length + 1));
      }
    }
    return "";
  }

  function writeCookie(name, value, days) {
    var cookie = name + "=" + encodeURIComponent(value) + "; Path=/; SameSite=Lax";
    cookie += "; Max-Age=" + Math.max(0, Math.round(days * 86400));
    if (config.cookieDomain) {
      cookie += "; Domain=" + config.cookieDomain;
    }
    if (window.location.protocol === "https:") {
      cookie += "; Secure";
    }
    document.cookie = cookie;
  }

  /** Keep the click id from the landing URL, if there is one. The latest click wins. */
  function capture() {
    var fromUrl = queryParam(config.param);
    if (fromUrl && CLICK_ID_PATTERN.test(fromUrl)) {
      writeCookie(config.cookieName, fromUrl, config.cookieDays);
      return fromUrl;
    }
    return "";
  }

  /** The stored click id, or "" when this visitor came through no tracking link. */
  function clickId() {
    var stored = readCookie(config.cookieName);
    return CLICK_ID_PATTERN.test(stored) ? stored : "";
  }

  function init(options) {
    options = options || {};
    for (var key in options) {
      if (Object.prototype.hasOwnProperty.call(options, key) && options[key] !== undefined && options[key] !== null) {
        config[key] = options[key];
      }
    }
    config.cookieDays = Number(config.cookieDays);
    if (!(config.cookieDays >= 0)) {
      config.cookieDays = 30;
    }
    config.endpoint = String(config.endpoint || "").replace(/\/+$/, "");
    capture();
    return api;
  }

  function pixelUrl(conversion) {
    var fields = {};
    var key;
    for (key in conversion) {
      if (Object.prototype.hasOwnProperty.call(conversion, key) && key !== "meta") {
        fields[key] = conversion[key];
      }
    }
    if (!fields.offer && config.offer) {
      fields.offer = config.offer;
    }
    if (!fields.click_id) {
      fields.click_id = clickId();
    }
    var query = [];
    for (key in fields) {
      var value = fields[key];
      if (value !== undefined && value !== null && value !== "") {
        query.push(encodeURIComponent(key) + "=" + encodeURIComponent(String(value)));
      }
    }
    var meta = conversion.meta || {};
    for (key in meta) {
      if (Object.prototype.hasOwnProperty.call(meta, key) && meta[key] !== undefined && meta[key] !== null) {
        query.push(encodeURIComponent("meta_" + key) + "=" + encodeURIComponent(String(meta[key])));
      }
    }
    return config.endpoint + "/v1/pixel.gif?" + query.join("&");
  }

  /**
   * Report a conversion through the pixel. `conversion` holds the API's fields:
   * offer, external_id, amount (a string such as "49.90"), and optionally type
   * ("purchase" by default), currency, product_id, category, quantity, plan,
   * subscription_id, coupon, referral_code, click_id (default: the stored one)
   * and meta (an object, sent as meta_<key>).
   * Resolves with {ok, clickId, url}; ok is false when the pixel could not be
   * fetched. The pixel answers the same image whatever happened: refusals are
   * in your request log (GET /v1/request-log).
   */
  function convert(conversion) {
    conversion = conversion || {};
    var url = pixelUrl(conversion);
    var sentClickId = /[?&]click_id=([^&]*)/.exec(url);
    var result = { ok: false, clickId: sentClickId ? decodeComponent(sentClickId[1]) : "", url: url };
    return new Promise(function (resolve) {
      var image = new Image();
      var settled = false;
      function settle(ok) {
        if (!settled) {
          settled = true;
          result.ok = ok;
          resolve(result);
        }
      }
      image.onload = function () {
        settle(true);
      };
      image.onerror = function () {
        settle(false);
      };
      window.setTimeout(function () {
        settle(false);
      }, PIXEL_TIMEOUT_MS);
      // No referrer: the thank-you page's URL may carry an order's details.
      image.referrerPolicy = "no-referrer";
      image.src = url;
    });
  }

  var api = { init: init, convert: convert, clickId: clickId, version: "1.0.0" };
  window.affitrack = api;

  // Configuration by data attributes on the script tag; init() may override it later.
  var script = scriptElement();
  var data = script ? script.dataset || {} : {};
  init({
    endpoint: data.endpoint || originOf(script && script.src) || originOf(window.location.href),
    param: data.param,
    cookieName: data.cookieName,
    cookieDays: data.cookieDays,
    cookieDomain: data.cookieDomain,
    offer: data.offer
  });
})(window, document);
