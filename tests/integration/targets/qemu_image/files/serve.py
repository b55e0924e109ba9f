#!/usr/bin/env python
# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Serve a directory on 127.0.0.1 and log every GET: serve.py ROOT PORTFILE LOGFILE PIDFILE SECONDS.

GET /NAME sends ROOT/NAME; /slow/NAME waits 2 seconds after the headers; /cut/NAME announces
the whole file but sends half of it and closes the connection. Each GET appends its path to
LOGFILE. Writes its port to PORTFILE and its pid to PIDFILE; exits after SECONDS.
"""

from __future__ import annotations

import http.server
import os
import sys
import threading
import time


def write(path, text):
    with open(path + '.tmp', 'w') as f:
        f.write(text)
    os.rename(path + '.tmp', path)


class Handler(http.server.BaseHTTPRequestHandler):

    def log_message(self, *args):
        pass

    def do_GET(self):  # pylint: disable=invalid-name
        path = self.path.split('?', 1)[0]
        with LOCK:
            with open(LOG, 'a') as f:
                f.write(path + '\n')
        name = path.rsplit('/', 1)[-1]
        full = os.path.join(ROOT, name)
        if not name or not os.path.isfile(full):
            self.send_error(404)
            return
        with open(full, 'rb') as f:
            body = f.read()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if path.startswith('/slow/'):
            time.sleep(2)
        if path.startswith('/cut/'):
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


LOCK = threading.Lock()
ROOT, PORT_FILE, LOG, PID_FILE, SECONDS = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])


def main():
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    server.handle_error = lambda request, client_address: None
    open(LOG, 'a').close()
    write(PID_FILE, str(os.getpid()))
    write(PORT_FILE, str(server.server_address[1]))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    time.sleep(SECONDS)
    server.shutdown()


if __name__ == '__main__':
    main()
