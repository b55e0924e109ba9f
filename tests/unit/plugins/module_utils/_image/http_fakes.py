# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A real HTTP server on 127.0.0.1 for the image tests: files by path, GETs counted, and a cut connection."""

from __future__ import annotations

import http.server
import threading
import time


class _Handler(http.server.BaseHTTPRequestHandler):

    def log_message(self, *args):
        pass

    def do_GET(self):  # pylint: disable=invalid-name
        server = self.server
        path = self.path.split('?', 1)[0]
        with server.lock:
            server.gets.append(path)
        body = server.files.get(path.replace('/cut', '', 1).replace('/slow', '', 1))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if path.startswith('/slow'):
            time.sleep(server.delay)
        if path.startswith('/cut'):
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


class FileServer:
    """``files`` maps paths (/x.img) to bytes; /cut/x.img sends half of it and closes, /slow/x.img waits ``delay`` first."""

    def __init__(self, files, delay=0.5):
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
        self.httpd.files = files
        self.httpd.gets = []
        self.httpd.lock = threading.Lock()
        self.httpd.delay = delay
        # A client that stops reading (a checksum that failed, a test that ends) is not an error here.
        self.httpd.handle_error = lambda request, client_address: None
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def gets(self):
        return list(self.httpd.gets)

    def url(self, path):
        return 'http://127.0.0.1:%d%s' % (self.httpd.server_address[1], path)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
