#!/usr/bin/env python3
# hookrecv.py PORT CERT KEY COUNTFILE: the webhook receiver of the benchmarks (compare.sh's
# `hato-hook`, event_cost.sh): HTTPS on 127.0.0.1, 200 at once to every POST, then the events
# counted (COUNTFILE: the total so far).
import http.server, json, ssl, sys
port, cert, key, countfile = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
total = 0
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_POST(self):
        global total
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        total += len(json.loads(body))
        with open(countfile, "w") as f:
            f.write(f"{total}\n")
server = http.server.HTTPServer(("127.0.0.1", port), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
