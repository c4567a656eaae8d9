#!/usr/bin/env python3
"""Drives Debian's headless Chromium through the overview page as a person would, over the
DevTools protocol (python3-websocket): opens /login, types the token into the form and
submits it, opens /?month=MONTH&tz=TZ at 1280x800, saves a screenshot and the DOM.

    overview_browser.py URL TOKEN MONTH TZ OUTDIR

Writes OUTDIR/overview.png, OUTDIR/dom.html and prints one JSON object: the session
cookie as the browser holds it, every URL the browser requested, console and security
log entries, and the page's final URL. Every wait is bounded; nothing sleeps to
synchronise. Exit 1 with a message on failure.
"""
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import websocket

WAIT_S = 45  # for one browser step, generous for two busy cores


class Browser:
    def __init__(self, outdir):
        self.profile = tempfile.mkdtemp(prefix="chromium-", dir=outdir)
        self.log = open(os.path.join(outdir, "chromium.log"), "w")
        self.proc = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-sync",
             "--disable-background-networking", "--disable-component-update",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             "--remote-allow-origins=*", f"--user-data-dir={self.profile}",
             "--window-size=1280,800", "about:blank"],
            stdout=self.log, stderr=subprocess.STDOUT)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + WAIT_S
        port = None
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with open(port_file) as f:
                    port = f.readline().strip()
                if port:
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.1)  # polling for the file, bounded by the deadline
        if not port:
            raise SystemExit("chromium did not open its DevTools port (see chromium.log)")
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list",
                                                   timeout=WAIT_S))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=WAIT_S,
                                              suppress_origin=True)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise SystemExit(f"{method}: {msg['error']}")
                return msg["result"]
            self.events.append(msg)
        raise SystemExit(f"{method}: no answer in {WAIT_S} s")

    def wait_event(self, method):
        """Takes the first event `method` received (clear stale ones before acting)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            for e in self.events:
                if e.get("method") == method:
                    self.events.remove(e)
                    return e
            if time.monotonic() >= deadline:
                raise SystemExit(f"no {method} in {WAIT_S} s")
            self.events.append(json.loads(self.ws.recv()))

    def evaluate(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            raise SystemExit(f"evaluate {expr!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def navigate(self, url):
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=WAIT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def main():
    url, token, month, tz, outdir = sys.argv[1:6]
    b = Browser(outdir)
    try:
        for domain in ("Page", "Network", "Log", "Runtime"):
            b.call(f"{domain}.enable")
        b.call("Emulation.setDeviceMetricsOverride", width=1280, height=800,
               deviceScaleFactor=1, mobile=False)
        b.navigate(url + "/login")
        # what a person does: type the token into the form, press the button. First let a
        # rendering pass run: it processes the field's autofocus, which an earlier focus()
        # would block (Chromium then logs "Autofocus processing was blocked", as it did once
        # on a busy machine); animation frame callbacks run after that step.
        b.call("Runtime.evaluate", awaitPromise=True, returnByValue=True,
               expression="new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        b.evaluate("document.getElementById('token').focus()")
        b.call("Input.insertText", text=token)
        b.events = [e for e in b.events if e.get("method") != "Page.loadEventFired"]
        b.evaluate("document.querySelector('form.login button').click()")
        b.wait_event("Page.loadEventFired")
        after_login = b.evaluate("location.pathname")
        cookies = b.call("Network.getCookies", urls=[url + "/"])["cookies"]
        query = urllib.parse.urlencode({"month": month, "tz": tz})
        b.navigate(f"{url}/?{query}")
        shot = b.call("Page.captureScreenshot", format="png")["data"]
        with open(os.path.join(outdir, "overview.png"), "wb") as f:
            f.write(base64.b64decode(shot))
        with open(os.path.join(outdir, "dom.html"), "w") as f:
            f.write(b.evaluate("document.documentElement.outerHTML"))
        final = b.evaluate("location.href")
        requested = [e["params"]["request"]["url"] for e in b.events
                     if e.get("method") == "Network.requestWillBeSent"]
        logs = [e["params"]["entry"]["text"] for e in b.events
                if e.get("method") == "Log.entryAdded"]
        logs += [str(e["params"].get("args")) for e in b.events
                 if e.get("method") == "Runtime.consoleAPICalled"]
        print(json.dumps({"after_login": after_login, "cookies": cookies,
                          "requested": requested, "log": logs, "final": final}))
    finally:
        b.close()


if __name__ == "__main__":
    main()
