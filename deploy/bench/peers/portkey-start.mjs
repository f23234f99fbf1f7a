// Starts Portkey's open-source gateway (its build/start-server.js, installed by `make peers` in
// .peers/portkey) with a default routing config. The gateway reads its config only from each
// request's `x-portkey-config` header; this wrapper adds that header, the JSON in the
// PORTKEY_DEFAULT_CONFIG variable (what the load-test suite makes of deploy/bench/peers/
// portkey.yaml), to every request that lacks it, in the gateway's own process and before the
// gateway reads the request: what a client would send, for the cost of one string per request.
//
//   PORTKEY_DEFAULT_CONFIG='{"strategy": ...}' node portkey-start.mjs START_SERVER_JS --port=8787
import http from "node:http";
import { syncBuiltinESMExports } from "node:module";
import { pathToFileURL } from "node:url";

const HEADER = "x-portkey-config";
const [server, ...gatewayArgs] = process.argv.slice(2);
const config = process.env.PORTKEY_DEFAULT_CONFIG;
if (!server || !config) {
  console.error("usage: PORTKEY_DEFAULT_CONFIG=JSON node portkey-start.mjs START_SERVER_JS [--port=N]");
  process.exit(2);
}
JSON.parse(config); // a broken config fails here, not on the first request

// The gateway's server (@hono/node-server) builds each request from `rawHeaders` and reads the
// host from `headers`: both get the config.
const createServer = http.createServer;
http.createServer = function createServerWithConfig(...args) {
  const at = args.findIndex((arg) => typeof arg === "function");
  if (at >= 0) {
    const listener = args[at];
    args[at] = function withConfig(request, response) {
      if (request.headers[HEADER] === undefined) {
        request.headers[HEADER] = config;
        request.rawHeaders.push(HEADER, config);
      }
      return listener.call(this, request, response);
    };
  }
  return createServer.apply(this, args);
};
syncBuiltinESMExports(); // so that `import { createServer } from "http"` sees the wrapper too

process.argv = [process.argv[0], server, ...gatewayArgs];
await import(pathToFileURL(server).href);
