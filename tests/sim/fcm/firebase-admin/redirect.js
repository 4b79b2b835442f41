// redirect.js - loaded with `node --require`: firebase-admin and
// google-auth-library have fixed hosts (fcm.googleapis.com,
// oauth2.googleapis.com), so every TLS connection to a *.googleapis.com host
// goes to fcm-sim at 127.0.0.1:$FCM_SIM_PORT instead, verified as "localhost"
// (tests/certs/gen.sh's server certificate; NODE_EXTRA_CA_CERTS trusts its
// CA). HTTP requests keep their Host / :authority, so fcm-sim sees the
// authorities Google's SDK uses. Counts the redirected connections per host
// into $FCM_SIM_REDIRECT_LOG (one host a line) when set.
'use strict';
const tls = require('tls');
const fs = require('fs');
const port = Number(process.env.FCM_SIM_PORT);
if (!port) throw new Error('redirect.js: FCM_SIM_PORT is not set');
const orig = tls.connect;
tls.connect = function (...args) {
  let opts;
  if (typeof args[0] === 'object' && args[0] !== null) {
    opts = Object.assign({}, args[0]);
    args[0] = opts;
  } else {
    // tls.connect(port[, host][, options][, callback])
    opts = {port: args[0]};
    let i = 1;
    if (typeof args[i] === 'string') opts.host = args[i++];
    if (typeof args[i] === 'object' && args[i] !== null) Object.assign(opts, args[i++]);
    args = [opts, ...args.slice(i)];
  }
  const host = opts.servername || opts.host || '';
  if (/(^|\.)googleapis\.com$/.test(host)) {
    if (process.env.FCM_SIM_REDIRECT_LOG) fs.appendFileSync(process.env.FCM_SIM_REDIRECT_LOG, host + '\n');
    opts.host = '127.0.0.1';
    opts.port = port;
    opts.servername = 'localhost';
    delete opts.path;
  } else if (host && host !== 'localhost' && host !== '127.0.0.1') {
    throw new Error('redirect.js: refusing a connection to ' + host + ' (loopback only)');
  }
  return orig.apply(this, args);
};
