'use strict';
// The minimal req/res pair the in-process harnesses (in-process.js, ../soak/koa.js) run Koa's
// own context over, without HTTP.

/** A response that keeps its headers and nothing else. */
function response() {
  const headers = Object.create(null);
  return {
    headersSent: false,
    statusCode: 404,
    getHeader: (k) => headers[k.toLowerCase()],
    setHeader: (k, v) => { headers[k.toLowerCase()] = v; },
    removeHeader: (k) => { delete headers[k.toLowerCase()]; },
    hasHeader: (k) => k.toLowerCase() in headers,
    getHeaderNames: () => Object.keys(headers),
    getHeaders: () => headers,
    headers,
  };
}

/** A GET request for `url` to `host`, with a Cookie header when `cookie` is set. */
function request(url, cookie, host = 'bench') {
  return { headers: cookie ? { host, cookie } : { host }, url, method: 'GET', socket: {} };
}

module.exports = { response, request };
