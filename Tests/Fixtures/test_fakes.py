#!/usr/bin/env python3
"""Self-test for fakes.py (the Telegram/OpenAI fixture). Run: python3 test_fakes.py"""

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FAKES = os.path.join(HERE, "fakes.py")
TOKEN = "123456:TEST-token"
OPENAI_SERVER_ERROR_TEXT = (
    "The server had an error while processing your request. Sorry about that!")
KEY = "sk-test-key"


class FixtureTest(unittest.TestCase):
    def setUp(self):
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, FAKES], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.stderr)
        line = self.proc.stdout.readline().decode()
        ports = json.loads(line)
        self.assertEqual(set(ports), {"telegram", "openai"})
        self.tg = "http://127.0.0.1:%d" % ports["telegram"]
        self.oa = "http://127.0.0.1:%d" % ports["openai"]
        self.tg_port = ports["telegram"]
        self.oa_port = ports["openai"]

    def tearDown(self):
        proc = self.proc
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except Exception:
                pass
        self.stderr.seek(0)
        errors = self.stderr.read().decode("utf-8", "replace")
        self.stderr.close()
        # the fixture must not crash on anything the tests do
        self.assertNotIn("Traceback", errors)

    # -- helpers ---------------------------------------------------------------
    def http(self, method, url, body=None, headers=None, timeout=10):
        """Returns (status, headers, raw bytes) and does not raise on 4xx/5xx."""
        data = None
        headers = dict(headers or {})
        if body is not None:
            if isinstance(body, (bytes, str)):
                data = body.encode() if isinstance(body, str) else body
            else:
                data = json.dumps(body).encode()
                headers.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def bot(self, method, params=None, token=TOKEN, timeout=10):
        status, _, raw = self.http("POST", "%s/bot%s/%s" % (self.tg, token, method),
                                   params if params is not None else {}, timeout=timeout)
        return status, json.loads(raw)

    def tgc(self, method, path, body=None, timeout=10):
        status, _, raw = self.http(method, self.tg + "/_fake/" + path, body, timeout=timeout)
        self.assertEqual(status, 200, raw)
        return json.loads(raw)

    def oac(self, method, path, body=None):
        status, _, raw = self.http(method, self.oa + "/_fake/" + path, body)
        self.assertEqual(status, 200, raw)
        return json.loads(raw)

    def chat(self, body, key=KEY):
        headers = {"Authorization": "Bearer " + key} if key else {}
        return self.http("POST", self.oa + "/v1/chat/completions", body, headers)

    # -- Telegram --------------------------------------------------------------
    def test_get_me(self):
        status, body = self.bot("getMe")
        self.assertEqual(status, 200)
        self.assertEqual(body, {"ok": True, "result": {
            "id": 123456, "is_bot": True, "first_name": "autonous-test",
            "username": "autonous_test_bot"}})
        # GET with query string works too, keep-alive on one connection
        conn = http.client.HTTPConnection("127.0.0.1", self.tg_port, timeout=5)
        for _ in range(3):
            conn.request("GET", "/bot%s/getMe" % TOKEN)
            r = conn.getresponse()
            self.assertEqual(json.loads(r.read())["result"]["id"], 123456)
        conn.close()

    def test_message_then_get_updates_and_offset(self):
        upd = self.tgc("POST", "message", {"from_id": 42, "text": "hello"})
        self.assertEqual(upd["update_id"], 100000)
        self.assertEqual(upd["message"]["chat"]["id"], 42)
        self.assertEqual(upd["message"]["from"]["username"], "user42")
        self.tgc("POST", "message", {"from_id": 42, "text": "second"})
        status, body = self.bot("getUpdates")
        self.assertEqual(status, 200)
        self.assertEqual([u["message"]["text"] for u in body["result"]], ["hello", "second"])
        # offset confirms update 100000
        status, body = self.bot("getUpdates", {"offset": 100001})
        self.assertEqual([u["update_id"] for u in body["result"]], [100001])
        self.assertEqual([u["update_id"] for u in self.tgc("GET", "pending")], [100001])
        # form-encoded offset (string) is coerced
        status, raw_headers, raw = self.http(
            "POST", "%s/bot%s/getUpdates" % (self.tg, TOKEN),
            urllib.parse.urlencode({"offset": "100002", "timeout": "0"}),
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(json.loads(raw)["result"], [])
        self.assertEqual(self.tgc("GET", "pending"), [])
        self.assertEqual(self.tgc("GET", "offsets"), [None, 100001, 100002])

    def test_allowed_updates(self):
        self.tgc("POST", "message", {"from_id": 1, "text": "m"})
        self.tgc("POST", "callback", {"from_id": 1, "data": "x", "message_id": 5})
        q = urllib.parse.urlencode({"allowed_updates": json.dumps(["callback_query"])})
        status, _, raw = self.http("GET", "%s/bot%s/getUpdates?%s" % (self.tg, TOKEN, q))
        result = json.loads(raw)["result"]
        self.assertEqual([list(u)[1] for u in result], ["callback_query"])
        self.assertEqual(result[0]["callback_query"]["data"], "x")

    def test_long_poll_wakes_on_message(self):
        def later():
            time.sleep(0.5)
            self.tgc("POST", "message", {"from_id": 7, "text": "wake"})
        threading.Thread(target=later, daemon=True).start()
        start = time.monotonic()
        status, body = self.bot("getUpdates", {"timeout": 10}, timeout=15)
        elapsed = time.monotonic() - start
        self.assertEqual(status, 200)
        self.assertEqual(body["result"][0]["message"]["text"], "wake")
        self.assertLess(elapsed, 5)
        # an empty long poll returns [] after the timeout
        start = time.monotonic()
        status, body = self.bot("getUpdates", {"offset": body["result"][0]["update_id"] + 1,
                                               "timeout": 1})
        self.assertEqual(body["result"], [])
        self.assertGreaterEqual(time.monotonic() - start, 0.9)

    def test_conflict_409(self):
        out = {}

        def older():
            out["older"] = self.bot("getUpdates", {"timeout": 20}, timeout=25)
        t = threading.Thread(target=older, daemon=True)
        t.start()
        w = self.tgc("POST", "wait", {"what": "requests", "method": "getUpdates",
                                      "count": 1, "timeout": 5})
        self.assertTrue(w["ok"])
        time.sleep(0.2)
        status, body = self.bot("getUpdates", {"timeout": 0})
        self.assertEqual((status, body), (200, {"ok": True, "result": []}))
        t.join(5)
        self.assertFalse(t.is_alive())
        status, body = out["older"]
        self.assertEqual(status, 409)
        self.assertEqual(body["error_code"], 409)
        self.assertTrue(body["description"].startswith("Conflict: terminated by other getUpdates"))
        statuses = [r["http_status"] for r in self.tgc("GET", "requests?method=getUpdates")]
        self.assertEqual(sorted(statuses), [200, 409])

    def test_send_message(self):
        status, body = self.bot("sendMessage", {"chat_id": 42, "text": "hi",
                                                "reply_parameters": {"message_id": 3}})
        self.assertEqual(status, 200)
        msg = body["result"]
        self.assertEqual(msg["message_id"], 1000)
        self.assertEqual(msg["chat"], {"id": 42, "type": "private"})
        self.assertEqual(msg["from"]["username"], "autonous_test_bot")
        self.assertEqual(msg["reply_to_message"]["message_id"], 3)
        status, body = self.bot("sendMessage", {"chat_id": 42, "text": "x" * 4097})
        self.assertEqual((status, body), (400, {"ok": False, "error_code": 400,
                                                "description": "Bad Request: message is too long"}))
        # 2048 emoji = 4096 UTF-16 units: allowed; one more is too long
        self.assertEqual(self.bot("sendMessage", {"chat_id": 42, "text": "😀" * 2048})[0], 200)
        self.assertEqual(self.bot("sendMessage", {"chat_id": 42, "text": "😀" * 2049})[0], 400)
        status, body = self.bot("sendMessage", {"chat_id": 42, "text": ""})
        self.assertEqual(body["description"], "Bad Request: message text is empty")
        status, body = self.bot("sendMessage", {"text": "t"})
        self.assertEqual(body["description"], "Bad Request: chat_id is empty")
        sent = self.tgc("GET", "sent")
        self.assertEqual([(m["chat"]["id"], m["text"][:2]) for m in sent],
                         [(42, "hi"), (42, "😀😀")])

    def test_scripted_429_and_5xx(self):
        self.tgc("POST", "script", {"method": "sendMessage", "faults": [
            {"status": 429, "retry_after": 2}, {"status": 502, "html": True}, {"status": 500}]})
        status, body = self.bot("sendMessage", {"chat_id": 1, "text": "a"})
        self.assertEqual(status, 429)
        self.assertEqual(body, {"ok": False, "error_code": 429,
                                "description": "Too Many Requests: retry after 2",
                                "parameters": {"retry_after": 2}})
        status, headers, raw = self.http("POST", "%s/bot%s/sendMessage" % (self.tg, TOKEN),
                                         {"chat_id": 1, "text": "a"})
        self.assertEqual(status, 502)
        self.assertIn(b"502 Bad Gateway", raw)
        status, body = self.bot("sendMessage", {"chat_id": 1, "text": "a"})
        self.assertEqual((status, body["description"]), (500, "Internal Server Error"))
        self.assertEqual(self.bot("sendMessage", {"chat_id": 1, "text": "a"})[0], 200)
        recs = self.tgc("GET", "requests?method=sendMessage")
        self.assertEqual([r["http_status"] for r in recs], [429, 502, 500, 200])

    def test_malformed_and_close_and_delay(self):
        self.tgc("POST", "script", {"method": "getUpdates", "faults": [
            {"malformed": True}, {"close": True}, {"delay": 0.3}]})
        status, headers, raw = self.http("GET", "%s/bot%s/getUpdates" % (self.tg, TOKEN))
        self.assertEqual(status, 200)
        self.assertEqual(raw, b'{"ok":tru')
        with self.assertRaises((urllib.error.URLError, ConnectionError,
                                http.client.HTTPException)):
            self.http("GET", "%s/bot%s/getUpdates" % (self.tg, TOKEN))
        start = time.monotonic()
        status, body = self.bot("getUpdates")
        self.assertGreaterEqual(time.monotonic() - start, 0.25)
        self.assertEqual((status, body), (200, {"ok": True, "result": []}))
        recs = self.tgc("GET", "requests?method=getUpdates")
        self.assertEqual([r["http_status"] for r in recs], [200, 0, 200])

    def test_wrong_token_and_unknown_method(self):
        status, body = self.bot("getMe", token="999:wrong")
        self.assertEqual((status, body), (401, {"ok": False, "error_code": 401,
                                                "description": "Unauthorized"}))
        status, body = self.bot("frobnicate")
        self.assertEqual((status, body), (404, {"ok": False, "error_code": 404,
                                                "description": "Not Found"}))

    def test_callback_edit_answer(self):
        status, body = self.bot("sendMessage", {"chat_id": 5, "text": "pick", "reply_markup": {
            "inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}})
        mid = body["result"]["message_id"]
        upd = self.tgc("POST", "callback", {"from_id": 5, "chat_id": 5, "message_id": mid,
                                            "data": "a"})
        cq = upd["callback_query"]
        self.assertEqual(cq["message"]["text"], "pick")
        self.assertEqual(self.bot("answerCallbackQuery", {"callback_query_id": cq["id"],
                                                          "text": "ok"}), (200, {"ok": True, "result": True}))
        self.assertEqual(self.bot("answerCallbackQuery", {"callback_query_id": "nope"})[0], 400)
        status, body = self.bot("editMessageText", {"chat_id": 5, "message_id": mid,
                                                    "text": "picked A"})
        self.assertEqual((status, body["result"]["text"]), (200, "picked A"))
        status, body = self.bot("editMessageText", {"chat_id": 5, "message_id": mid,
                                                    "text": "picked A"})
        self.assertEqual(status, 400)
        self.assertIn("message is not modified", body["description"])
        self.assertEqual(len(self.tgc("GET", "edited")), 1)
        self.assertEqual(self.tgc("GET", "callback_answers")[0]["text"], "ok")

    def test_message_drafts_and_their_stop(self):
        self.assertEqual(self.bot("sendMessageDraft", {"chat_id": 5, "draft_id": 9, "text": "<b>Hel</b>",
                                                       "parse_mode": "HTML", "can_stop": True}),
                         (200, {"ok": True, "result": True}))
        self.assertEqual(self.bot("sendMessageDraft", {"chat_id": 5, "draft_id": 9, "text": ""})[0], 200)
        self.assertEqual(self.bot("sendMessageDraft", {"chat_id": -100, "draft_id": 9, "text": "x"})[0], 400)
        self.assertEqual(self.bot("sendMessageDraft", {"chat_id": 5, "draft_id": 0, "text": "x"})[0], 400)
        status, body = self.bot("sendMessageDraft", {"chat_id": 5, "draft_id": 9, "text": "<b>x",
                                                     "parse_mode": "HTML"})
        self.assertEqual(status, 400)
        self.assertIn("can't parse entities", body["description"])
        drafts = self.tgc("GET", "drafts")
        self.assertEqual([(d["text"], d["can_stop"]) for d in drafts], [("Hel", True), ("", False)])
        self.assertEqual(drafts[0]["entities"], [{"offset": 0, "length": 3, "type": "bold"}])
        update = self.tgc("POST", "stop_generation", {"chat_id": 5, "draft_id": 9})
        self.assertEqual(update["stopped_message_generation"]["draft_id"], 9)
        self.assertEqual(update["stopped_message_generation"]["chat"]["type"], "private")
        status, _, raw = self.http("POST", self.tg + "/_fake/stop_generation", {"chat_id": 5, "draft_id": 10})
        self.assertEqual((status, json.loads(raw)), (400, {"error": "no draft 10 with can_stop was sent to chat 5"}))

    def test_button_data_over_64_bytes_is_refused(self):
        def markup(data):
            return {"inline_keyboard": [[{"text": "A", "callback_data": data}]]}
        status, body = self.bot("sendMessage", {"chat_id": 5, "text": "pick", "reply_markup": markup("x" * 64)})
        self.assertEqual(status, 200)
        mid = body["result"]["message_id"]
        for data in ("x" * 65, "é" * 33, ""):
            status, body = self.bot("sendMessage", {"chat_id": 5, "text": "pick", "reply_markup": markup(data)})
            self.assertEqual((status, body["description"]), (400, "Bad Request: BUTTON_DATA_INVALID"), data)
        status, body = self.bot("editMessageText", {"chat_id": 5, "message_id": mid, "text": "again",
                                                    "reply_markup": markup("x" * 65)})
        self.assertEqual((status, body["description"]), (400, "Bad Request: BUTTON_DATA_INVALID"))
        self.assertEqual(len(self.tgc("GET", "sent")), 1)

    def test_html_parse_mode_gives_visible_text_and_entities(self):
        html = ('<b>bold</b> &amp; <i>it</i> <a href="https://example.com/?a=1&amp;b=2">link</a>\n'
                '<pre><code class="language-swift">let x = 1 &lt; 2</code></pre>\n\n')
        status, body = self.bot("sendMessage", {"chat_id": 7, "text": html, "parse_mode": "HTML"})
        self.assertEqual(status, 200, body)
        msg = body["result"]
        self.assertEqual(msg["text"], "bold & it link\nlet x = 1 < 2")
        self.assertEqual(msg["entities"], [
            {"type": "bold", "offset": 0, "length": 4},
            {"type": "italic", "offset": 7, "length": 2},
            {"type": "text_link", "offset": 10, "length": 4, "url": "https://example.com/?a=1&b=2"},
            {"type": "pre", "offset": 15, "length": 13, "language": "swift"},
        ])
        # Without parse_mode the same text is sent as it is, tags and all.
        status, body = self.bot("sendMessage", {"chat_id": 7, "text": "<b>x</b> & <y>"})
        self.assertEqual((status, body["result"]["text"]), (200, "<b>x</b> & <y>"))
        self.assertNotIn("entities", body["result"])
        # A lone & and > are text; an emoji counts two UTF-16 units in the offsets.
        status, body = self.bot("sendMessage", {"chat_id": 7, "text": "😀 a & b > c <s>x</s>",
                                                "parse_mode": "html"})
        self.assertEqual(body["result"]["entities"], [{"type": "strikethrough", "offset": 13, "length": 1}])

    def test_html_parse_mode_refuses_bad_markup_like_telegram(self):
        cases = [
            ("a < b", 'Unsupported start tag "" at byte offset 2'),
            ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
            ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
            ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
            ("x</b>", "Unexpected end tag at byte offset 1"),
            ("é<b", "Unclosed start tag at byte offset 2"),
            ('<span class="other">x</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ]
        for text, message in cases:
            status, body = self.bot("sendMessage", {"chat_id": 7, "text": text, "parse_mode": "HTML"})
            self.assertEqual((status, body), (400, {
                "ok": False, "error_code": 400,
                "description": "Bad Request: can't parse entities: " + message}), text)
        status, body = self.bot("sendMessage", {"chat_id": 7, "text": "<b> </b>", "parse_mode": "HTML"})
        self.assertEqual((status, body["description"]), (400, "Bad Request: message text is empty"))
        status, body = self.bot("editMessageText", {"chat_id": 7, "message_id": 1, "text": "<x>",
                                                    "parse_mode": "HTML"})
        self.assertEqual(status, 400)
        self.assertIn("can't parse entities", body["description"])
        self.assertEqual(self.tgc("GET", "sent"), [])

    def test_html_parse_mode_limits_the_visible_text(self):
        # 4096 visible characters in tags and entities is allowed, though the HTML is much longer.
        text = "<b>" + "&amp;" * 4000 + "</b>" + "x" * 96
        status, body = self.bot("sendMessage", {"chat_id": 7, "text": text, "parse_mode": "HTML"})
        self.assertEqual(status, 200, body)
        self.assertEqual(len(body["result"]["text"]), 4096)
        status, body = self.bot("sendMessage", {"chat_id": 7, "text": text + "😀", "parse_mode": "HTML"})
        self.assertEqual((status, body["description"]), (400, "Bad Request: message is too long"))

    def test_control_errors_and_reset(self):
        status, _, raw = self.http("GET", self.tg + "/_fake/nope")
        self.assertEqual(status, 404)
        self.assertIn("unknown control path", json.loads(raw)["error"])
        status, _, raw = self.http("POST", self.tg + "/_fake/message", b"{bad",
                                   {"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        status, _, raw = self.http("POST", self.tg + "/_fake/message", {"text": "x"})
        self.assertEqual(status, 400)
        self.assertIn("from_id", json.loads(raw)["error"])
        self.tgc("POST", "message", {"from_id": 1, "text": "x"})
        self.tgc("POST", "reset", {})
        self.assertEqual(self.tgc("GET", "pending"), [])
        self.assertEqual(self.tgc("GET", "requests"), [])
        upd = self.tgc("POST", "update", {"edited_message": {"message_id": 9, "text": "e"}})
        self.assertEqual(upd["update_id"], 100001)

    def test_wait_sent(self):
        def later():
            time.sleep(0.3)
            self.bot("sendMessage", {"chat_id": 1, "text": "one"})
            self.bot("sendMessage", {"chat_id": 1, "text": "two"})
        threading.Thread(target=later, daemon=True).start()
        w = self.tgc("POST", "wait", {"what": "sent", "count": 2, "timeout": 5})
        self.assertEqual(w, {"ok": True, "count": 2})
        w = self.tgc("POST", "wait", {"what": "sent", "count": 3, "timeout": 0.2})
        self.assertEqual(w, {"ok": False, "count": 2})

    # -- OpenAI ----------------------------------------------------------------
    def test_openai_echo_with_usage(self):
        status, headers, raw = self.chat({"model": "gpt-fake", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello there"}]})
        self.assertEqual(status, 200, raw)
        body = json.loads(raw)
        self.assertEqual(body["object"], "chat.completion")
        self.assertEqual(body["model"], "gpt-fake")
        choice = body["choices"][0]
        self.assertEqual(choice["message"]["content"], "echo: hello there")
        self.assertEqual(choice["finish_reason"], "stop")
        usage = body["usage"]
        self.assertEqual(usage["prompt_tokens"], (8 + 11) // 4)
        self.assertEqual(usage["completion_tokens"], len("echo: hello there") // 4)
        self.assertEqual(usage["total_tokens"], usage["prompt_tokens"] + usage["completion_tokens"])
        self.assertEqual(usage["prompt_tokens_details"]["cached_tokens"], 0)
        reqs = self.oac("GET", "requests")
        self.assertEqual(reqs[0]["headers"]["authorization"], "Bearer " + KEY)
        self.assertEqual(reqs[0]["http_status"], 200)

    def test_openai_tool_calls(self):
        self.oac("POST", "script", {"responses": [
            {"tool_calls": [{"id": "call_1", "name": "ls", "arguments": {"path": "."}}]},
            {"tool_calls": [{"id": "call_2", "name": "ls", "arguments": "{not json"}]},
            {"content": "done", "usage": {"prompt_tokens": 100, "completion_tokens": 5,
                                          "cached_tokens": 64}}]})
        msgs = [{"role": "user", "content": "list"}]
        body = json.loads(self.chat({"model": "m", "messages": msgs})[2])
        choice = body["choices"][0]
        self.assertEqual(choice["finish_reason"], "tool_calls")
        self.assertIsNone(choice["message"]["content"])
        call = choice["message"]["tool_calls"][0]
        self.assertEqual(call, {"id": "call_1", "type": "function",
                                "function": {"name": "ls", "arguments": '{"path":"."}'}})
        self.assertEqual(json.loads(call["function"]["arguments"]), {"path": "."})
        body = json.loads(self.chat({"model": "m", "messages": msgs})[2])
        self.assertEqual(body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
                         "{not json")
        msgs2 = msgs + [{"role": "assistant", "content": None, "tool_calls": [call]},
                        {"role": "tool", "tool_call_id": "call_1", "content": "a b"}]
        body = json.loads(self.chat({"model": "m", "messages": msgs2})[2])
        self.assertEqual(body["choices"][0]["message"]["content"], "done")
        self.assertEqual(body["usage"]["prompt_tokens_details"]["cached_tokens"], 64)
        self.assertEqual(body["usage"]["total_tokens"], 105)
        # a dangling tool_call is rejected like the real API does
        status, _, raw = self.chat({"model": "m", "messages": msgs2[:2]})
        self.assertEqual(status, 400)
        self.assertIn("did not have response messages: call_1",
                      json.loads(raw)["error"]["message"])

    def test_openai_auth_and_validation(self):
        status, _, raw = self.chat({"model": "m", "messages": [{"role": "user", "content": "x"}]},
                                   key="sk-wrong-key-123")
        self.assertEqual(status, 401)
        err = json.loads(raw)["error"]
        self.assertEqual((err["type"], err["code"]), ("invalid_request_error", "invalid_api_key"))
        self.assertTrue(err["message"].startswith("Incorrect API key provided: sk-"))
        status, _, raw = self.chat({"messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(raw)["error"]["message"], "you must provide a model parameter")
        status, _, raw = self.chat({"model": "m"})
        self.assertEqual(json.loads(raw)["error"]["message"],
                         "Missing required parameter: 'messages'.")
        status, _, raw = self.chat({"model": "m", "messages": [{"role": "bot", "content": "x"}]})
        self.assertEqual((status, json.loads(raw)["error"]["param"]), (400, "messages[0].role"))
        status, _, raw = self.chat(b"{nope", key=KEY)
        self.assertEqual(status, 400)
        self.assertTrue(json.loads(raw)["error"]["message"].startswith(
            "We could not parse the JSON body"))

    def test_openai_errors(self):
        self.oac("POST", "script", {"responses": [
            {"status": 429, "retry_after": 3}, {"status": 503},
            {"status": 400, "message": "too long", "code": "context_length_exceeded"},
            {"malformed": True}, {"empty_choices": True}, {"close": True},
            {"delay": 0.3}]})
        req = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
        status, headers, raw = self.chat(req)
        self.assertEqual(status, 429)
        self.assertEqual(headers["retry-after"], "3")
        self.assertEqual(json.loads(raw)["error"]["code"], "rate_limit_exceeded")
        status, _, raw = self.chat(req)
        self.assertEqual((status, json.loads(raw)["error"]["type"]), (503, "server_error"))
        status, _, raw = self.chat(req)
        self.assertEqual((status, json.loads(raw)["error"]["code"]),
                         (400, "context_length_exceeded"))
        status, _, raw = self.chat(req)
        self.assertEqual((status, raw), (200, b'{"id": "chatcmpl-x", "choices": ['))
        status, _, raw = self.chat(req)
        self.assertEqual(json.loads(raw)["choices"], [])
        with self.assertRaises((urllib.error.URLError, ConnectionError,
                                http.client.HTTPException)):
            self.chat(req)
        start = time.monotonic()
        status, _, raw = self.chat(req)
        self.assertGreaterEqual(time.monotonic() - start, 0.25)
        self.assertEqual(json.loads(raw)["choices"][0]["message"]["content"], "echo: hi")
        statuses = [r["http_status"] for r in self.oac("GET", "requests")]
        self.assertEqual(statuses, [429, 503, 400, 200, 200, 0, 200])

    def test_openai_streaming(self):
        self.oac("POST", "script", {"responses": [{"content": "streamed reply text"}]})
        status, headers, raw = self.chat({"model": "gpt-fake", "stream": True,
                                          "stream_options": {"include_usage": True},
                                          "messages": [{"role": "user", "content": "go"}]})
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/event-stream"))
        text = raw.decode()
        self.assertTrue(text.endswith("data: [DONE]\n\n"), text[-80:])
        events = [e[len("data: "):] for e in text.split("\n\n") if e]
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertEqual(chunks[0]["choices"][0]["delta"]["role"], "assistant")
        content = "".join(c["choices"][0]["delta"].get("content") or ""
                          for c in chunks if c["choices"])
        self.assertEqual(content, "streamed reply text")
        self.assertEqual(chunks[-2]["choices"][0]["finish_reason"], "stop")
        self.assertEqual(chunks[-1]["choices"], [])
        self.assertGreater(chunks[-1]["usage"]["total_tokens"], 0)
        # the connection stays usable (chunked, keep-alive)
        conn = http.client.HTTPConnection("127.0.0.1", self.oa_port, timeout=5)
        for _ in range(2):
            conn.request("POST", "/v1/chat/completions", json.dumps({
                "model": "m", "stream": True,
                "messages": [{"role": "user", "content": "again"}]}),
                {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"})
            r = conn.getresponse()
            self.assertTrue(r.read().endswith(b"data: [DONE]\n\n"))
        conn.close()

    def stream_chunks(self, entry, usage=True):
        """Scripts one entry, asks for it streamed, and returns the decoded data payloads."""
        self.oac("POST", "script", {"responses": [entry]})
        req = {"model": "gpt-fake", "stream": True,
               "messages": [{"role": "user", "content": "go"}]}
        if usage:
            req["stream_options"] = {"include_usage": True}
        status, _, raw = self.chat(req)
        self.assertEqual(status, 200)
        events = [e[len("data: "):] for e in raw.decode().split("\n\n") if e]
        return [e if e == "[DONE]" else json.loads(e) for e in events]

    def test_openai_streaming_pieces_and_delay(self):
        start = time.monotonic()
        chunks = self.stream_chunks({"content": "one two three four five", "stream_pieces": 5,
                                     "chunk_delay": 0.05})
        self.assertGreaterEqual(time.monotonic() - start, 0.05 * 7)
        texts = [c["choices"][0]["delta"]["content"] for c in chunks[1:-3]]
        self.assertEqual(len(texts), 5)
        self.assertEqual("".join(texts), "one two three four five")
        self.assertTrue(all(c["usage"] is None for c in chunks[:-2]))
        self.assertEqual(chunks[-1], "[DONE]")

    def test_openai_streaming_reasoning_and_tool_calls(self):
        chunks = self.stream_chunks({
            "reasoning_content": "think first", "content": None,
            "tool_calls": [{"id": "call_9", "name": "ls", "arguments": {"path": "src"}}],
            "usage": {"reasoning_tokens": 7}})
        deltas = [c["choices"][0]["delta"] for c in chunks[:-1] if c["choices"]]
        self.assertEqual("".join(d.get("reasoning_content", "") for d in deltas), "think first")
        calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
        self.assertEqual(calls[0]["id"], "call_9")
        self.assertEqual(calls[0]["function"]["name"], "ls")
        self.assertTrue(all("id" not in c for c in calls[1:]))
        self.assertGreater(len(calls), 2)
        self.assertEqual("".join(c["function"]["arguments"] for c in calls), '{"path":"src"}')
        self.assertEqual(chunks[-3]["choices"][0]["finish_reason"], "tool_calls")
        self.assertEqual(chunks[-2]["usage"]["completion_tokens_details"]["reasoning_tokens"], 7)
        # without include_usage there is no usage chunk and no usage field
        chunks = self.stream_chunks({"content": "hi"}, usage=False)
        self.assertEqual(chunks[-2]["choices"][0]["finish_reason"], "stop")
        self.assertNotIn("usage", chunks[-2])
        # the same entry unstreamed carries reasoning_content in the message
        self.oac("POST", "script", {"responses": [{"reasoning_content": "hmm", "content": "ok"}]})
        body = json.loads(self.chat({"model": "m", "messages": [{"role": "user", "content": "x"}]})[2])
        self.assertEqual(body["choices"][0]["message"]["reasoning_content"], "hmm")

    def test_openai_streaming_error_mid_stream(self):
        chunks = self.stream_chunks({"content": "partial answer here",
                                     "stream_error": {"after": 2, "code": "server_error"}})
        self.assertEqual(len([c for c in chunks if c.get("choices")]), 3)
        self.assertEqual(chunks[-1], {"error": {"message": OPENAI_SERVER_ERROR_TEXT,
                                                "type": "server_error", "param": None,
                                                "code": "server_error"}})
        self.assertNotIn("[DONE]", chunks)

    def test_openai_wait_and_models(self):
        def later():
            time.sleep(0.3)
            self.chat({"model": "m", "messages": [{"role": "user", "content": "x"}]})
        threading.Thread(target=later, daemon=True).start()
        self.assertEqual(self.oac("POST", "wait", {"count": 1, "timeout": 5}),
                         {"ok": True, "count": 1})
        self.assertEqual(self.oac("POST", "wait", {"count": 2, "timeout": 0.1})["ok"], False)
        status, _, raw = self.http("GET", self.oa + "/v1/models",
                                   headers={"Authorization": "Bearer " + KEY})
        self.assertEqual(json.loads(raw)["data"][0]["id"], "gpt-fake")
        self.oac("POST", "reset", {})
        self.assertEqual(self.oac("GET", "requests"), [])

    def test_openai_hold_answers_only_after_a_release(self):
        self.oac("POST", "script", {"responses": [{"hold": True, "content": "held"}]})
        answers = []

        def ask():
            answers.append(self.chat({"model": "m", "messages": [{"role": "user", "content": "x"}]}))
        thread = threading.Thread(target=ask, daemon=True)
        thread.start()
        self.assertEqual(self.oac("POST", "wait", {"count": 1, "timeout": 5})["ok"], True)
        thread.join(0.5)
        self.assertTrue(thread.is_alive(), "a held completion answered before its release")
        self.assertEqual(self.oac("POST", "release", {}), {"ok": True})
        thread.join(5)
        self.assertFalse(thread.is_alive())
        status, _, raw = answers[0]
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(raw)["choices"][0]["message"]["content"], "held")

    # -- lifecycle -------------------------------------------------------------
    def test_exits_on_stdin_eof(self):
        self.proc.stdin.close()
        self.assertEqual(self.proc.wait(timeout=5), 0)

    def test_exits_on_sigterm(self):
        self.proc.terminate()
        self.assertEqual(self.proc.wait(timeout=5), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
