#!/usr/bin/env python3
"""Fake Telegram Bot API and fake OpenAI chat-completions API for autonous's tests.

This is a TEST FIXTURE for the autonous test suite (a Swift 6 Telegram+OpenAI
agent daemon).  The Swift tests start it as a subprocess, point the daemon at
it, and drive and inspect it over plain HTTP on 127.0.0.1.  It depends on the
Python 3.11 standard library only.

Command line
------------
    python3 fakes.py [--telegram-token TOKEN] [--openai-key KEY] [--host 127.0.0.1]
                     [--ignore-stdin]

Two HTTP/1.1 servers (keep-alive, one thread per connection) are bound to
ephemeral ports, then exactly one JSON line is printed to stdout:

    {"telegram": <port>, "openai": <port>}

The process exits with status 0 on SIGTERM/SIGINT, when its stdin reaches EOF
(the test closes the pipe or dies; disable with --ignore-stdin), or when its
parent process goes away.  Requests are logged to stderr only if the
environment variable FAKES_VERBOSE=1.  Defaults: Telegram token
"123456:TEST-token", OpenAI key "sk-test-key".

Telegram fake (Bot API wire format)
-----------------------------------
``/bot<token>/<method>`` via GET or POST.  Parameters may come as a query
string, an application/x-www-form-urlencoded or multipart/form-data body, or a
JSON body (merged in that order; JSON values keep their types, form/query
values are coerced; uploaded files are recorded as {"filename", "size"}).
Method names are case-insensitive, as in the real API.  Answers are
``{"ok":true,"result":...}`` or ``{"ok":false,"error_code":N,"description":...}``
with HTTP status N.  A wrong token gives 401, an unknown method 404.

Implemented methods: getMe, getUpdates (offset confirmation, limit,
long-polling timeout capped at 60 s, allowed_updates remembered between calls,
409 Conflict for an older in-flight call), sendMessage, sendMessageDraft
(private chats only, non-zero draft_id, text 0-4096 after parsing, can_stop
recorded), editMessageText,
deleteMessage, answerCallbackQuery, sendChatAction, setMessageReaction,
deleteWebhook, getWebhookInfo, setMyCommands, getMyCommands.  As in the real
API, an inline button's callback_data must be 1 to 64 bytes (UTF-8), else
sendMessage and editMessageText answer 400 BUTTON_DATA_INVALID.  With
parse_mode HTML (any other parse_mode is ignored) they parse the text as the
real API does: only Telegram's tags (b, strong, i, em, u, ins, s, strike, del,
span class="tg-spoiler", tg-spoiler, a, code, pre, blockquote, tg-emoji), each
closed in order, else 400 "Bad Request: can't parse entities: <tdlib's
message>"; the stored message has the visible text (tags removed, entities
decoded, trimmed) and its entities, and the 4096 limit applies to that text.

Telegram control API (same port, JSON in/out)
  POST /_fake/message   {"from_id", "chat_id"?, "text", "username"?, "first_name"?}
                        -> enqueue a text message update, returns the update
  POST /_fake/callback  {"from_id", "chat_id"?, "message_id"?, "data"}
                        -> enqueue a callback_query update, returns the update
  POST /_fake/update    any update object (update_id is assigned) -> returns it
  POST /_fake/stop_generation {"chat_id", "draft_id"} -> enqueue the
                        stopped_message_generation update a user's Stop gives
                        (400 unless that draft was sent with can_stop)
  POST /_fake/script    {"method": "sendMessage", "faults": [...]} -> queue faults;
                        each call of that method pops one.  Fault keys:
                        status (+description, retry_after, parameters, html),
                        malformed, delay (seconds, combinable), close
  GET  /_fake/requests[?method=NAME]  recorded bot API calls
  GET  /_fake/sent | /_fake/edited | /_fake/drafts | /_fake/callback_answers | /_fake/pending
       | /_fake/offsets | /_fake/faults
  POST /_fake/wait      {"what": "sent"|"requests"|"edited"|"drafts"|"callback_answers"
                         |"offsets", "method"?, "count", "timeout"?}
                        -> {"ok": bool, "count": n}
  POST /_fake/reset     clear state (id counters keep increasing)

OpenAI fake
-----------
``POST /v1/chat/completions`` (Bearer auth, request validation with OpenAI's
error shapes, non-streaming and SSE streaming answers, usage) and
``GET /v1/models``.  Without a script the reply is "echo: <last user text>".

OpenAI control API (same port)
  POST /_fake/script    {"responses": [...]} -> FIFO; each completion pops one.
                        Entry keys: content, tool_calls, refusal, reasoning_content,
                        finish_reason, usage, status (+message, code, type, param,
                        retry_after), malformed, empty_choices, delay, close,
                        hold (true: answer only after a POST /_fake/release).
                        Streamed answers only: chunk_delay (seconds between
                        chunks), stream_pieces (chunks per text, default 3),
                        stream_error ({"message", "type", "code", "after"}: an
                        error object in place of the rest of the stream after
                        "after" content chunks, as OpenAI sends one mid-stream)
  POST /_fake/release   lets one held completion answer (in arrival order)
  GET  /_fake/script    entries not yet consumed
  GET  /_fake/requests[?path=P|?all=1]  recorded requests (default: chat completions)
  POST /_fake/wait      {"count", "timeout"?} -> {"ok": bool, "count": n}
  POST /_fake/reset

This file is not part of the product; it only has to be faithful enough to
the real services' wire shapes (including their error shapes) to exercise
autonous's clients.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from email import policy as email_policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

VERBOSE = os.environ.get("FAKES_VERBOSE") == "1"

DEFAULT_TELEGRAM_TOKEN = "123456:TEST-token"
DEFAULT_OPENAI_KEY = "sk-test-key"

MAX_LONG_POLL = 60.0
MAX_CONTROL_WAIT = 120.0
MAX_FAULT_DELAY = 120.0

BOT_USER = {
    "id": 123456,
    "is_bot": True,
    "first_name": "autonous-test",
    "username": "autonous_test_bot",
}

CONFLICT_DESCRIPTION = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
NOT_MODIFIED_DESCRIPTION = (
    "Bad Request: message is not modified: specified new message content and "
    "reply markup are exactly the same as a current content and reply markup "
    "of the message"
)
NGINX_502_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0"
    "</center>\r\n</body>\r\n</html>\r\n"
)
TELEGRAM_STATUS_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: CONFLICT_DESCRIPTION,
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
# Update types the real API does not deliver unless explicitly requested.
DEFAULT_EXCLUDED_UPDATE_TYPES = {"chat_member", "message_reaction", "message_reaction_count"}
CHAT_ACTIONS = {
    "typing", "upload_photo", "record_video", "upload_video", "record_voice",
    "upload_voice", "upload_document", "choose_sticker", "find_location",
    "record_video_note", "upload_video_note",
}
# Parameters that arrive as strings in form/query encodings.
TG_INT_PARAMS = {
    "offset", "limit", "timeout", "chat_id", "message_id", "reply_to_message_id",
    "message_thread_id", "from_chat_id", "user_id", "cache_time",
}
TG_BOOL_PARAMS = {
    "disable_notification", "protect_content", "show_alert", "drop_pending_updates",
    "disable_web_page_preview", "is_big", "allow_sending_without_reply",
}
# Parameters that are JSON-serialized objects/arrays when sent as strings.
TG_JSON_PARAMS = {
    "allowed_updates", "reply_parameters", "reply_markup", "entities", "commands",
    "reaction", "link_preview_options", "scope",
}

OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
OPENAI_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means "
    "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
    "payload, but what was sent was not valid JSON. If you have trouble figuring "
    "out how to fix this, please contact us through our help center at "
    "help.openai.com.)"
)
OPENAI_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an "
    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), "
    "or as the password field (with blank username) if you're accessing the API "
    "from your browser and are prompted for a username and password. You can "
    "obtain an API key from https://platform.openai.com/account/api-keys."
)
OPENAI_SERVER_ERROR = (
    "The server had an error while processing your request. Sorry about that!"
)
OPENAI_QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. "
    "For more information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
OPENAI_MODELS = [
    {"id": "gpt-fake", "object": "model", "created": 0, "owned_by": "autonous-tests"}
]


def dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def buttons_invalid(markup) -> bool:
    """True when an inline keyboard has a button whose callback_data is not 1 to 64 bytes of UTF-8."""
    if not isinstance(markup, dict) or not isinstance(markup.get("inline_keyboard"), list):
        return False
    for row in markup["inline_keyboard"]:
        for button in row if isinstance(row, list) else []:
            data = button.get("callback_data") if isinstance(button, dict) else None
            if data is not None and not (isinstance(data, str) and 1 <= len(data.encode("utf-8")) <= 64):
                return True
    return False


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# Telegram's parse_mode HTML (tdlib's parse_html): these tags only, each closed in order; `&lt;` `&gt;` `&amp;`
# `&quot;` and numeric entities; an `&` that starts no entity is text.  Errors keep tdlib's wording, byte offsets
# into the UTF-8 text included.
HTML_ENTITY_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "span": "spoiler",
    "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
HTML_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class EntityParseError(Exception):
    """Text that Telegram refuses with 400 "Bad Request: can't parse entities: <message>"."""


def _html_entity(data, i):
    """Decodes the entity at data[i] == '&': (text, length) or None."""
    end = data.find(b";", i + 1, i + 12)
    if end < 0:
        return None
    name = data[i + 1:end].decode("ascii", "replace")
    if name in HTML_NAMED_ENTITIES:
        return HTML_NAMED_ENTITIES[name], end + 1 - i
    try:
        if name[:2] in ("#x", "#X"):
            code = int(name[2:], 16)
        elif name[:1] == "#" and name[1:].isdigit():
            code = int(name[1:])
        else:
            return None
        if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
            return chr(code), end + 1 - i
    except ValueError:
        pass
    return None


def _html_attributes(data, i, tag, begin):
    """Reads a start tag's attributes from data[i]; returns (attributes, index of its '>')."""
    attributes = {}
    while True:
        while i < len(data) and data[i:i + 1].isspace():
            i += 1
        if i >= len(data):
            raise EntityParseError("Unclosed start tag at byte offset %d" % begin)
        if data[i] == ord(">"):
            return attributes, i
        start = i
        while i < len(data) and not data[i:i + 1].isspace() and data[i] not in b"=>":
            i += 1
        name = data[start:i].decode("utf-8", "replace").lower()
        if not name:
            raise EntityParseError("Empty attribute name in the tag \"%s\" at byte offset %d" % (tag, begin))
        while i < len(data) and data[i:i + 1].isspace():
            i += 1
        if i >= len(data) or data[i] != ord("="):
            if name in ("expandable",) and i < len(data):
                attributes[name] = ""
                continue
            raise EntityParseError(
                "Expected equal sign in declaration of an attribute of the tag \"%s\" at byte offset %d"
                % (tag, begin))
        i += 1
        while i < len(data) and data[i:i + 1].isspace():
            i += 1
        if i >= len(data):
            raise EntityParseError("Unclosed start tag at byte offset %d" % begin)
        quote = data[i:i + 1]
        if quote in (b'"', b"'"):
            end = data.find(quote, i + 1)
            if end < 0:
                raise EntityParseError("Unclosed end of an attribute value at byte offset %d" % i)
            raw, i = data[i + 1:end], end + 1
        else:
            start = i
            while i < len(data) and (data[i:i + 1].isalnum() or data[i] in b".-_"):
                i += 1
            raw = data[start:i]
            if not raw:
                raise EntityParseError("Expected quote at byte offset %d" % i)
        value, j = "", 0
        while j < len(raw):
            entity = _html_entity(raw, j) if raw[j] == ord("&") else None
            if entity:
                value, j = value + entity[0], j + entity[1]
            else:
                k = j + 1
                while k < len(raw) and raw[k] & 0xC0 == 0x80:
                    k += 1
                value, j = value + raw[j:k].decode("utf-8", "replace"), k
        attributes[name] = value


def parse_telegram_html(text):
    """Parses text as parse_mode HTML: (visible text, entities), trimmed like the real API, or EntityParseError."""
    data = text.encode("utf-8")
    pieces, units, stack, entities = [], 0, [], []
    i = 0
    while i < len(data):
        byte = data[i]
        if byte == ord("&"):
            entity = _html_entity(data, i)
            piece, length = entity if entity else ("&", 1)
        elif byte != ord("<"):
            length = 1
            while i + length < len(data) and data[i + length] & 0xC0 == 0x80:
                length += 1
            piece = data[i:i + length].decode("utf-8", "replace")
        else:
            piece = None
        if piece is not None:
            pieces.append(piece)
            units += utf16_len(piece)
            i += length
            continue
        begin = i
        i += 1
        if i < len(data) and data[i] != ord("/"):
            start = i
            while i < len(data) and not data[i:i + 1].isspace() and data[i] != ord(">"):
                i += 1
            if i >= len(data):
                raise EntityParseError("Unclosed start tag at byte offset %d" % begin)
            tag = data[start:i].decode("utf-8", "replace").lower()
            if tag not in HTML_ENTITY_TYPES:
                raise EntityParseError("Unsupported start tag \"%s\" at byte offset %d" % (tag, begin))
            attributes, i = _html_attributes(data, i, tag, begin)
            if tag == "span" and attributes.get("class") != "tg-spoiler":
                raise EntityParseError("Tag \"span\" must have class \"tg-spoiler\" at byte offset %d" % begin)
            stack.append((tag, attributes, units))
            i += 1
            continue
        if not stack:
            raise EntityParseError("Unexpected end tag at byte offset %d" % begin)
        start = i + 1
        i = start
        while i < len(data) and not data[i:i + 1].isspace() and data[i] != ord(">"):
            i += 1
        tag = data[start:i].decode("utf-8", "replace").lower()
        while i < len(data) and data[i:i + 1].isspace():
            i += 1
        if i >= len(data) or data[i] != ord(">"):
            raise EntityParseError("Unclosed end tag at byte offset %d" % begin)
        if tag != stack[-1][0]:
            raise EntityParseError("Unmatched end tag at byte offset %d, expected \"</%s>\", found \"</%s>\""
                                   % (begin, stack[-1][0], tag))
        open_tag, attributes, offset = stack.pop()
        i += 1
        entity = {"type": HTML_ENTITY_TYPES[open_tag], "offset": offset, "length": units - offset}
        if open_tag == "a":
            entity["url"] = attributes.get("href", "")
        if open_tag == "blockquote" and "expandable" in attributes:
            entity["type"] = "expandable_blockquote"
        if open_tag == "tg-emoji":
            entity["custom_emoji_id"] = attributes.get("emoji-id", "")
        language = attributes.get("class", "")
        if open_tag == "code" and stack and stack[-1][0] == "pre" and language.startswith("language-"):
            stack[-1][1]["language"] = language[len("language-"):]
            continue
        if open_tag == "pre" and attributes.get("language"):
            entity["language"] = attributes["language"]
        if entity["length"] > 0:
            entities.append(entity)
    if stack:
        raise EntityParseError("Can't find end tag corresponding to start tag \"%s\"" % stack[-1][0])
    return _trimmed("".join(pieces), entities)


def _trimmed(text, entities):
    """Strips leading and trailing whitespace as the real API does, moving and clipping the entities."""
    lead = utf16_len(text) - utf16_len(text.lstrip())
    text = text.strip()
    size = utf16_len(text)
    kept = []
    for entity in sorted(entities, key=lambda e: (e["offset"], -e["length"])):
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, size)
        if end > start:
            kept.append(dict(entity, offset=start, length=end - start))
    return text, kept


def as_int(value, default=None):
    """Coerce an int-ish parameter (int, or decimal string); else default."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return default
    return default


def as_float(value, default=None):
    if isinstance(value, bool):
        return default
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return default
    return default


def as_bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def json_type_name(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def clamp_timeout(value, default, cap):
    t = as_float(value, default)
    if t is None or t != t:  # NaN
        t = default
    return max(0.0, min(float(t), cap))


class Resp:
    """A complete HTTP answer, or a request to drop the connection."""

    __slots__ = ("status", "body", "ctype", "headers", "close")

    def __init__(self, status=200, body=b"", ctype="application/json", headers=None, close=False):
        self.status = status
        self.body = body
        self.ctype = ctype
        self.headers = headers or []
        self.close = close

    @classmethod
    def json(cls, status, obj, headers=None):
        return cls(status, dumps(obj), "application/json", headers)

    @classmethod
    def drop(cls):
        return cls(0, close=True)


class BadRequest(Exception):
    """Malformed control request; becomes a 400 JSON answer."""


# ---------------------------------------------------------------------------
# HTTP plumbing shared by both fakes
# ---------------------------------------------------------------------------


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, handler_class, fake):
        self.fake = fake
        super().__init__(address, handler_class)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "autonous-fakes/1.0"
    sys_version = ""

    def version_string(self):
        return self.server_version
    timeout = 300  # idle keep-alive connections are dropped after this

    # -- logging ------------------------------------------------------------
    def log_message(self, format, *args):  # noqa: A002 (stdlib signature)
        if VERBOSE:
            sys.stderr.write("[%s] %s - %s\n" % (
                type(self).__name__, self.address_string(), format % args))
            sys.stderr.flush()

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, TimeoutError):
            pass

    # -- request helpers ----------------------------------------------------
    def read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    break
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until blank line
                    while True:
                        trailer = self.rfile.readline(65537)
                        if trailer in (b"\r\n", b"\n", b""):
                            break
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)  # CRLF after chunk
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length:
            try:
                n = int(length)
            except ValueError:
                n = 0
            if n > 0:
                return self.rfile.read(n)
        return b""

    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()

    # -- response helpers ---------------------------------------------------
    def send(self, resp: Resp):
        if resp.close:
            self.drop_connection()
            return
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.ctype)
        self.send_header("Content-Length", str(len(resp.body)))
        for name, value in resp.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    def drop_connection(self):
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def control_json(self, body: bytes):
        if not body.strip():
            return {}
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadRequest("control body is not valid JSON: %s" % e)
        if not isinstance(obj, dict):
            raise BadRequest("control body must be a JSON object, got %s" % json_type_name(obj))
        return obj

    def run(self):
        split = urlsplit(self.path)
        body = self.read_body()
        try:
            resp = self.dispatch(split.path, dict(parse_qsl(split.query, keep_blank_values=True)), body)
        except BadRequest as e:
            resp = Resp.json(400, {"error": str(e)})
        except Exception as e:  # a fixture bug: make it loud but keep serving
            traceback.print_exc(file=sys.stderr)
            resp = Resp.json(500, {"error": "fixture internal error: %r" % (e,)})
        if resp is not None:
            self.send(resp)

    def do_GET(self):
        self.run()

    do_POST = do_GET
    do_PUT = do_GET
    do_DELETE = do_GET
    do_PATCH = do_GET

    def dispatch(self, path, query, body):  # pragma: no cover - overridden
        raise NotImplementedError


def require_int(obj, key, default=None, required=True):
    if key not in obj or obj[key] is None:
        if required and default is None:
            raise BadRequest("missing required integer field %r" % key)
        return default
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest("field %r must be an integer, got %s" % (key, json_type_name(value)))
    return value


def require_str(obj, key, default=None, required=True):
    if key not in obj or obj[key] is None:
        if required and default is None:
            raise BadRequest("missing required string field %r" % key)
        return default
    value = obj[key]
    if not isinstance(value, str):
        raise BadRequest("field %r must be a string, got %s" % (key, json_type_name(value)))
    return value


def wait_timeout(obj, default=10.0):
    t = obj.get("timeout", default)
    if isinstance(t, bool) or not isinstance(t, (int, float)):
        raise BadRequest("field 'timeout' must be a number of seconds")
    return max(0.0, min(float(t), MAX_CONTROL_WAIT))


def validate_faults(items, what):
    if not isinstance(items, list):
        raise BadRequest("%r must be a list" % what)
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequest("%s[%d] must be an object" % (what, i))
        if "delay" in item:
            d = item["delay"]
            if isinstance(d, bool) or not isinstance(d, (int, float)) or d < 0:
                raise BadRequest("%s[%d].delay must be a non-negative number" % (what, i))
        if "status" in item:
            s = item["status"]
            if isinstance(s, bool) or not isinstance(s, int) or not 100 <= s <= 599:
                raise BadRequest("%s[%d].status must be an HTTP status code" % (what, i))


def fault_sleep(entry):
    delay = entry.get("delay")
    if isinstance(delay, (int, float)) and not isinstance(delay, bool) and delay > 0:
        time.sleep(min(float(delay), MAX_FAULT_DELAY))


# ---------------------------------------------------------------------------
# Telegram
# ---------------------------------------------------------------------------


def tg_ok(result):
    return Resp.json(200, {"ok": True, "result": result})


def tg_error(code, description=None, parameters=None):
    body = {
        "ok": False,
        "error_code": code,
        "description": description or TELEGRAM_STATUS_DESCRIPTIONS.get(code, "Error"),
    }
    if parameters:
        body["parameters"] = parameters
    return Resp.json(code, body)


def update_type(update):
    for key in update:
        if key != "update_id":
            return key
    return None


class TelegramFake:
    METHODS = [
        "getMe", "getUpdates", "sendMessage", "sendMessageDraft", "editMessageText", "deleteMessage",
        "answerCallbackQuery", "sendChatAction", "setMessageReaction",
        "deleteWebhook", "getWebhookInfo", "setMyCommands", "getMyCommands",
    ]

    def __init__(self, token):
        self.token = token
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        # counters survive reset
        self.next_update_id = 100000
        self.next_user_message_id = 1
        self.next_bot_message_id = 1000
        self.next_callback_id = 1
        self.poll_generation = 0
        self.known_callback_ids = set()
        self.methods = {name.lower(): name for name in self.METHODS}
        self.clear()

    def clear(self):
        self.pending = []
        self.sent = []
        self.edited = []
        self.drafts = []
        self.callback_answers = []
        self.requests = []
        self.offsets = []
        self.faults = {}
        self.allowed_updates = None  # None = API default
        self.messages = {}  # (chat_id, message_id) -> Message
        self.commands = []

    # -- helpers (call with lock held) --------------------------------------
    @staticmethod
    def chat_object(chat_id, first_name=None, username=None):
        if isinstance(chat_id, int) and chat_id < 0:
            return {"id": chat_id, "title": "Test Group", "type": "group"}
        chat = {"id": chat_id, "type": "private"}
        if first_name:
            chat["first_name"] = first_name
        if username:
            chat["username"] = username
        return chat

    def enqueue(self, update):
        update = dict(update)
        update.pop("update_id", None)
        full = {"update_id": self.next_update_id}
        full.update(update)
        self.next_update_id += 1
        self.pending.append(full)
        self.cond.notify_all()
        return full

    def record(self, method, params):
        rec = {"method": method, "params": params, "ts": time.time(), "http_status": None}
        self.requests.append(rec)
        gen = None
        if method == "getUpdates":
            self.offsets.append(as_int(params.get("offset")) if "offset" in params else None)
            self.poll_generation += 1
            gen = self.poll_generation
        self.cond.notify_all()
        return rec, gen

    # -- bot API ------------------------------------------------------------
    def handle_bot(self, token, method, params):
        """Returns a Resp; may block (long poll, delay faults)."""
        canonical = self.methods.get(method.lower()) if method else None
        with self.lock:
            rec, gen = self.record(canonical or method, params)
            fault = None
            if token == self.token and canonical:
                queue = self.faults.get(canonical.lower())
                if queue:
                    fault = queue.popleft()
        if token != self.token:
            resp = tg_error(401, "Unauthorized")
        elif not canonical:
            resp = tg_error(404, "Not Found")
        else:
            resp = None
            if fault is not None:
                fault_sleep(fault)  # lock NOT held
                resp = self.fault_response(fault)
            if resp is None:
                handler = getattr(self, "m_" + canonical)
                if canonical == "getUpdates":
                    resp = handler(params, gen)
                else:
                    resp = handler(params)
        with self.lock:
            rec["http_status"] = 0 if resp.close else resp.status
            self.cond.notify_all()
        return resp

    @staticmethod
    def fault_response(fault):
        if fault.get("close"):
            return Resp.drop()
        if fault.get("malformed"):
            return Resp(200, b'{"ok":tru', "application/json")
        status = fault.get("status")
        if status is None:
            return None  # delay-only fault: answer normally
        if status == 200:
            return tg_ok(fault.get("result", True))
        if fault.get("html"):
            html = NGINX_502_HTML if status == 502 else (
                "<html><head><title>%d</title></head><body><h1>%d</h1></body></html>\r\n"
                % (status, status))
            return Resp(status, html.encode(), "text/html")
        parameters = dict(fault.get("parameters") or {})
        description = fault.get("description")
        if status == 429:
            retry_after = as_int(fault.get("retry_after"), None)
            if retry_after is None:
                retry_after = as_int(parameters.get("retry_after"), 1)
            parameters["retry_after"] = retry_after
            description = description or "Too Many Requests: retry after %d" % retry_after
        return tg_error(status, description, parameters or None)

    def m_getMe(self, params):
        return tg_ok(dict(BOT_USER))

    def m_getUpdates(self, params, gen):
        offset = as_int(params.get("offset"))
        limit = as_int(params.get("limit"), 100)
        limit = 100 if limit is None else max(1, min(limit, 100))
        timeout = clamp_timeout(params.get("timeout"), 0.0, MAX_LONG_POLL)
        allowed = params.get("allowed_updates")
        deadline = time.monotonic() + timeout
        with self.cond:
            if isinstance(allowed, list):
                self.allowed_updates = [a for a in allowed if isinstance(a, str)] or None
            if offset is not None:
                if offset < 0:
                    self.pending = self.pending[offset:]
                else:
                    self.pending = [u for u in self.pending if u["update_id"] >= offset]
            while True:
                if self.poll_generation != gen:
                    return tg_error(409, CONFLICT_DESCRIPTION)
                wanted = self.allowed_updates
                if wanted is None:
                    keep = lambda u: update_type(u) not in DEFAULT_EXCLUDED_UPDATE_TYPES  # noqa: E731
                else:
                    keep = lambda u: update_type(u) in wanted  # noqa: E731
                # The real server never delivers unwanted types; drop them.
                self.pending = [u for u in self.pending if keep(u)]
                result = self.pending[:limit]
                remaining = deadline - time.monotonic()
                if result or remaining <= 0:
                    return Resp(200, dumps({"ok": True, "result": result}))
                self.cond.wait(remaining)

    def _resolve_chat(self, params):
        """Returns (chat_id, error Resp or None)."""
        raw = params.get("chat_id")
        if raw is None or raw == "":
            return None, tg_error(400, "Bad Request: chat_id is empty")
        chat_id = as_int(raw)
        if chat_id is None:
            return None, tg_error(400, "Bad Request: chat not found")
        return chat_id, None

    @staticmethod
    def _parse_text(text, parse_mode):
        """Applies parse_mode (only HTML is understood): (visible text, entities, error Resp or None)."""
        if not isinstance(parse_mode, str) or parse_mode.lower() != "html":
            return text, [], None
        try:
            text, entities = parse_telegram_html(text)
        except EntityParseError as e:
            return None, None, tg_error(400, "Bad Request: can't parse entities: %s" % e)
        if not text:
            return None, None, tg_error(400, "Bad Request: message text is empty")
        return text, entities, None

    def m_sendMessage(self, params):
        chat_id, err = self._resolve_chat(params)
        if err:
            return err
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            return tg_error(400, "Bad Request: message text is empty")
        text, entities, err = self._parse_text(text, params.get("parse_mode"))
        if err:
            return err
        if utf16_len(text) > 4096:
            return tg_error(400, "Bad Request: message is too long")
        if buttons_invalid(params.get("reply_markup")):
            return tg_error(400, "Bad Request: BUTTON_DATA_INVALID")
        reply_to = None
        rp = params.get("reply_parameters")
        if isinstance(rp, dict):
            reply_to = as_int(rp.get("message_id"))
        if reply_to is None and "reply_to_message_id" in params:
            reply_to = as_int(params.get("reply_to_message_id"))
        with self.lock:
            message = {
                "message_id": self.next_bot_message_id,
                "from": dict(BOT_USER),
                "chat": self.chat_object(chat_id),
                "date": int(time.time()),
                "text": text,
            }
            if entities:
                message["entities"] = entities
            self.next_bot_message_id += 1
            if reply_to is not None:
                original = self.messages.get((chat_id, reply_to))
                if original is not None:
                    stub = {k: v for k, v in original.items() if k != "reply_to_message"}
                else:
                    stub = {"message_id": reply_to, "date": message["date"],
                            "chat": self.chat_object(chat_id)}
                message["reply_to_message"] = stub
            markup = params.get("reply_markup")
            if isinstance(markup, dict) and "inline_keyboard" in markup:
                message["reply_markup"] = markup
            self.messages[(chat_id, message["message_id"])] = message
            self.sent.append(message)
            self.cond.notify_all()
            return Resp(200, dumps({"ok": True, "result": message}))

    def m_sendMessageDraft(self, params):
        chat_id, err = self._resolve_chat(params)
        if err:
            return err
        if chat_id < 0:
            return tg_error(400, "Bad Request: message drafts can be sent only to private chats")
        draft_id = as_int(params.get("draft_id"))
        if draft_id is None or draft_id == 0:
            return tg_error(400, "Bad Request: draft_id must be a non-zero integer")
        text = params.get("text", "")
        if not isinstance(text, str):
            return tg_error(400, "Bad Request: text must be a string")
        if text.strip():
            text, entities, err = self._parse_text(text, params.get("parse_mode"))
            if err:
                return err
        else:  # an empty draft shows "Thinking..."
            text, entities = "", []
        if utf16_len(text) > 4096:
            return tg_error(400, "Bad Request: TEXT_TOO_LONG")
        with self.lock:
            self.drafts.append({
                "chat_id": chat_id, "draft_id": draft_id, "text": text, "entities": entities,
                "can_stop": as_bool(params.get("can_stop")),
                "keep_on_stop": as_bool(params.get("keep_on_stop")), "ts": time.time(),
            })
            self.cond.notify_all()
        return tg_ok(True)

    def stop_generation(self, body):
        """The update Telegram sends when the user presses Stop on a draft sent with can_stop."""
        chat_id = require_int(body, "chat_id")
        draft_id = require_int(body, "draft_id")
        with self.lock:
            if not any(d["chat_id"] == chat_id and d["draft_id"] == draft_id and d["can_stop"]
                       for d in self.drafts):
                raise BadRequest("no draft %d with can_stop was sent to chat %d" % (draft_id, chat_id))
            return self.enqueue({"stopped_message_generation": {
                "chat": self.chat_object(chat_id), "draft_id": draft_id}})

    def m_editMessageText(self, params):
        text = params.get("text")
        if "inline_message_id" in params and "chat_id" not in params:
            if not isinstance(text, str) or not text.strip():
                return tg_error(400, "Bad Request: message text is empty")
            with self.lock:
                self.edited.append({"inline_message_id": params["inline_message_id"], "text": text})
                self.cond.notify_all()
            return tg_ok(True)
        chat_id, err = self._resolve_chat(params)
        if err:
            return err
        message_id = as_int(params.get("message_id"))
        if message_id is None:
            return tg_error(400, "Bad Request: message identifier is not specified")
        if not isinstance(text, str) or not text.strip():
            return tg_error(400, "Bad Request: message text is empty")
        text, entities, err = self._parse_text(text, params.get("parse_mode"))
        if err:
            return err
        if utf16_len(text) > 4096:
            return tg_error(400, "Bad Request: MESSAGE_TOO_LONG")
        markup = params.get("reply_markup")
        if buttons_invalid(markup):
            return tg_error(400, "Bad Request: BUTTON_DATA_INVALID")
        with self.lock:
            now = int(time.time())
            existing = self.messages.get((chat_id, message_id))
            if existing is not None:
                if existing.get("from", {}).get("id") != BOT_USER["id"]:
                    return tg_error(400, "Bad Request: message can't be edited")
                if existing.get("text") == text and existing.get("reply_markup") == (
                        markup if isinstance(markup, dict) and markup.get("inline_keyboard") else None):
                    return tg_error(400, NOT_MODIFIED_DESCRIPTION)
                message = dict(existing)
            else:  # lenient: edits of messages the fake never saw succeed
                message = {
                    "message_id": message_id,
                    "from": dict(BOT_USER),
                    "chat": self.chat_object(chat_id),
                    "date": now,
                }
            message["text"] = text
            message["edit_date"] = now
            if entities:
                message["entities"] = entities
            else:
                message.pop("entities", None)
            if isinstance(markup, dict) and markup.get("inline_keyboard"):
                message["reply_markup"] = markup
            else:
                message.pop("reply_markup", None)
            self.messages[(chat_id, message_id)] = message
            self.edited.append(message)
            self.cond.notify_all()
            return Resp(200, dumps({"ok": True, "result": message}))

    def m_deleteMessage(self, params):
        chat_id, err = self._resolve_chat(params)
        if err:
            return err
        message_id = as_int(params.get("message_id"))
        if message_id is None:
            return tg_error(400, "Bad Request: message identifier is not specified")
        with self.lock:
            self.messages.pop((chat_id, message_id), None)
        return tg_ok(True)

    def m_answerCallbackQuery(self, params):
        qid = params.get("callback_query_id")
        if qid is None or qid == "":
            return tg_error(400, "Bad Request: QUERY_ID_INVALID")
        qid = str(qid)
        with self.lock:
            if qid not in self.known_callback_ids:
                return tg_error(400, "Bad Request: query is too old and response timeout "
                                     "expired or query ID is invalid")
            answer = {"callback_query_id": qid}
            for key in ("text", "show_alert", "url", "cache_time"):
                if key in params:
                    answer[key] = params[key]
            self.callback_answers.append(answer)
            self.cond.notify_all()
        return tg_ok(True)

    def m_sendChatAction(self, params):
        _, err = self._resolve_chat(params)
        if err:
            return err
        if params.get("action") not in CHAT_ACTIONS:
            return tg_error(400, "Bad Request: wrong parameter action in request")
        return tg_ok(True)

    def m_setMessageReaction(self, params):
        _, err = self._resolve_chat(params)
        if err:
            return err
        if as_int(params.get("message_id")) is None:
            return tg_error(400, "Bad Request: message identifier is not specified")
        return tg_ok(True)

    def m_deleteWebhook(self, params):
        if as_bool(params.get("drop_pending_updates", False)):
            with self.lock:
                self.pending = []
        return tg_ok(True)

    def m_getWebhookInfo(self, params):
        with self.lock:
            n = len(self.pending)
        return tg_ok({"url": "", "has_custom_certificate": False, "pending_update_count": n})

    def m_setMyCommands(self, params):
        commands = params.get("commands")
        if not isinstance(commands, list):
            return tg_error(400, "Bad Request: can't parse commands JSON object")
        with self.lock:
            self.commands = commands
        return tg_ok(True)

    def m_getMyCommands(self, params):
        with self.lock:
            return tg_ok(list(self.commands))

    # -- control API --------------------------------------------------------
    def control(self, verb, name, query, body_obj):
        with self.lock:
            if name == "requests" and verb == "GET":
                method = query.get("method")
                items = [r for r in self.requests
                         if not method or (r["method"] or "").lower() == method.lower()]
                return Resp(200, dumps(items))
            simple = {
                "sent": lambda: self.sent,
                "edited": lambda: self.edited,
                "drafts": lambda: self.drafts,
                "callback_answers": lambda: self.callback_answers,
                "pending": lambda: self.pending,
                "offsets": lambda: self.offsets,
                "faults": lambda: {k: list(v) for k, v in self.faults.items() if v},
            }
            if name in simple and verb == "GET":
                return Resp(200, dumps(simple[name]()))
            if name == "reset" and verb == "POST":
                self.clear()
                self.cond.notify_all()
                return Resp.json(200, {"ok": True})
        if verb != "POST" and name in ("message", "callback", "update", "script", "wait",
                                       "stop_generation"):
            return Resp.json(405, {"error": "use POST for /_fake/%s" % name})
        if verb != "GET" and name in ("requests", "sent", "edited", "drafts", "callback_answers",
                                      "pending", "offsets", "faults"):
            return Resp.json(405, {"error": "use GET for /_fake/%s" % name})
        if name == "message":
            return Resp.json(200, self.fake_message(body_obj))
        if name == "callback":
            return Resp.json(200, self.fake_callback(body_obj))
        if name == "stop_generation":
            return Resp.json(200, self.stop_generation(body_obj))
        if name == "update":
            if not any(k != "update_id" for k in body_obj):
                raise BadRequest("update must contain an update type key such as 'message'")
            with self.lock:
                return Resp.json(200, self.enqueue(body_obj))
        if name == "script":
            method = require_str(body_obj, "method")
            faults = body_obj.get("faults")
            validate_faults(faults, "faults")
            key = method.lower()
            with self.lock:
                queue = self.faults.setdefault(key, collections.deque())
                queue.extend(faults)
                return Resp.json(200, {"ok": True, "method": method, "queued": len(queue)})
        if name == "wait":
            return Resp.json(200, self.wait(body_obj))
        return Resp.json(404, {"error": "unknown control path /_fake/%s" % name})

    def fake_message(self, body):
        from_id = require_int(body, "from_id")
        chat_id = require_int(body, "chat_id", default=from_id)
        text = require_str(body, "text")
        username = require_str(body, "username", required=False) or "user%d" % from_id
        first_name = require_str(body, "first_name", required=False) or "User"
        user = {"id": from_id, "is_bot": False, "first_name": first_name, "username": username}
        with self.lock:
            message = {
                "message_id": self.next_user_message_id,
                "from": user,
                "chat": self.chat_object(chat_id, first_name, username),
                "date": int(time.time()),
                "text": text,
            }
            self.next_user_message_id += 1
            if text.startswith("/"):
                command = text.split()[0] if text.split() else text
                message["entities"] = [
                    {"offset": 0, "length": utf16_len(command), "type": "bot_command"}]
            self.messages[(chat_id, message["message_id"])] = message
            return self.enqueue({"message": message})

    def fake_callback(self, body):
        from_id = require_int(body, "from_id")
        chat_id = require_int(body, "chat_id", default=from_id)
        data = require_str(body, "data")
        username = require_str(body, "username", required=False) or "user%d" % from_id
        first_name = require_str(body, "first_name", required=False) or "User"
        message_id = require_int(body, "message_id", required=False)
        with self.lock:
            if message_id is None:
                mine = [m for (c, _), m in self.messages.items()
                        if c == chat_id and m.get("from", {}).get("id") == BOT_USER["id"]]
                message_id = mine[-1]["message_id"] if mine else 1
            known = self.messages.get((chat_id, message_id))
            if known is not None:
                message = dict(known)
            else:
                message = {"message_id": message_id, "from": dict(BOT_USER),
                           "chat": self.chat_object(chat_id), "date": int(time.time()),
                           "text": ""}
            qid = str(4000000000000000000 + self.next_callback_id)
            self.next_callback_id += 1
            self.known_callback_ids.add(qid)
            query = {
                "id": qid,
                "from": {"id": from_id, "is_bot": False, "first_name": first_name,
                         "username": username},
                "message": message,
                "chat_instance": "1",
                "data": data,
            }
            return self.enqueue({"callback_query": query})

    def wait(self, body):
        what = require_str(body, "what", default="sent", required=False)
        count = require_int(body, "count")
        timeout = wait_timeout(body)
        method = require_str(body, "method", required=False)
        lists = {
            "sent": lambda: len(self.sent),
            "edited": lambda: len(self.edited),
            "drafts": lambda: len(self.drafts),
            "callback_answers": lambda: len(self.callback_answers),
            "offsets": lambda: len(self.offsets),
            "requests": lambda: sum(
                1 for r in self.requests
                if not method or (r["method"] or "").lower() == method.lower()),
        }
        if what not in lists:
            raise BadRequest("field 'what' must be one of %s" % ", ".join(sorted(lists)))
        counter = lists[what]
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                current = counter()
                if current >= count:
                    return {"ok": True, "count": current}
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return {"ok": False, "count": current}
                self.cond.wait(remaining)


class TelegramHandler(BaseHandler):
    def parse_multipart(self, body):
        """Fields of a multipart/form-data body; file parts become
        {"filename": ..., "size": ...} (their bytes are not kept)."""
        header = b"Content-Type: " + self.headers["Content-Type"].encode("latin-1") + b"\r\n\r\n"
        message = BytesParser(policy=email_policy.HTTP).parsebytes(header + body)
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            payload = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is not None:
                fields[name] = {"filename": filename, "size": len(payload)}
            else:
                charset = part.get_content_charset() or "utf-8"
                fields[name] = payload.decode(charset, "replace")
        return fields

    def parse_params(self, query, body):
        params = {}
        for key, value in query.items():
            params[key] = value
        form_like = dict(params)
        ctype = self.content_type()
        json_obj = None
        if body.strip():
            looks_json = body.lstrip()[:1] in (b"{", b"[")
            if ctype == "application/json" or (ctype not in (
                    "application/x-www-form-urlencoded",) and looks_json):
                try:
                    json_obj = json.loads(body)
                except (ValueError, UnicodeDecodeError):
                    return None, tg_error(400, "Bad Request: can't parse JSON object")
                if not isinstance(json_obj, dict):
                    return None, tg_error(400, "Bad Request: can't parse JSON object")
            elif ctype == "multipart/form-data":
                try:
                    form_like.update(self.parse_multipart(body))
                except Exception:
                    return None, tg_error(400, "Bad Request: can't parse multipart/form-data")
            elif ctype == "application/x-www-form-urlencoded" or not ctype:
                try:
                    form = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
                except UnicodeDecodeError:
                    return None, tg_error(400, "Bad Request: invalid request body encoding")
                form_like.update(form)
        for key, value in form_like.items():
            if key in TG_INT_PARAMS:
                converted = as_int(value)
                params[key] = converted if converted is not None else value
            elif key in TG_BOOL_PARAMS:
                params[key] = as_bool(value)
            else:
                params[key] = value
        if json_obj:
            params.update(json_obj)
        for key in TG_JSON_PARAMS:
            value = params.get(key)
            if isinstance(value, str) and value.strip()[:1] in ("{", "["):
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    pass
        return params, None

    def dispatch(self, path, query, body):
        fake = self.server.fake
        if path.startswith("/_fake/"):
            name = path[len("/_fake/"):].strip("/")
            verb = "GET" if self.command in ("GET", "HEAD") else "POST"
            body_obj = self.control_json(body) if verb == "POST" else {}
            return fake.control(verb, name, query, body_obj)
        if path.startswith("/bot"):
            token, _, method = path[len("/bot"):].partition("/")
            method = method.strip("/")
            params, err = self.parse_params(query, body)
            if err is not None:
                with fake.lock:
                    rec, _ = fake.record(method, {})
                    rec["http_status"] = err.status
                return err
            return fake.handle_bot(token, method, params)
        return tg_error(404, "Not Found")


# ---------------------------------------------------------------------------
# OpenAI
# ---------------------------------------------------------------------------


def oa_error(status, message, type_="invalid_request_error", param=None, code=None, headers=None):
    return Resp.json(status, {"error": {"message": message, "type": type_,
                                        "param": param, "code": code}}, headers)


def content_text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "".join(parts)
    return ""


def validate_chat_request(body):
    """Returns an error Resp mimicking OpenAI's validation, or None."""
    if not isinstance(body, dict):
        return oa_error(400, "Invalid type for body: expected an object, but got %s instead."
                        % json_type_name(body), param=None)
    if "model" not in body or body["model"] is None or body["model"] == "":
        return oa_error(400, "you must provide a model parameter", param="model")
    if not isinstance(body["model"], str):
        return oa_error(400, "Invalid type for 'model': expected a string, but got %s instead."
                        % json_type_name(body["model"]), param="model")
    if "messages" not in body:
        return oa_error(400, "Missing required parameter: 'messages'.", param="messages")
    messages = body["messages"]
    if not isinstance(messages, list):
        return oa_error(400, "Invalid type for 'messages': expected an array of objects, but "
                        "got %s instead." % json_type_name(messages), param="messages")
    if not messages:
        return oa_error(400, "Invalid 'messages': empty array. Expected an array with minimum "
                        "length 1, but got an empty array instead.", param="messages")
    if body.get("stream_options") is not None and not body.get("stream"):
        return oa_error(400, "The 'stream_options' parameter is only allowed when 'stream' "
                        "is enabled.", param="stream_options")
    open_ids = []          # tool_call ids still awaiting a tool message
    open_owner = None      # index of the assistant message owning open_ids
    block_ids = None       # ids of the current assistant tool_calls block
    for i, m in enumerate(messages):
        where = "messages[%d]" % i
        if not isinstance(m, dict):
            return oa_error(400, "Invalid type for '%s': expected an object, but got %s "
                            "instead." % (where, json_type_name(m)), param=where)
        role = m.get("role")
        if role is None:
            return oa_error(400, "Missing required parameter: '%s.role'." % where,
                            param=where + ".role")
        if role not in OPENAI_ROLES:
            return oa_error(400, "Invalid value: '%s'. Supported values are: 'system', "
                            "'assistant', 'user', 'tool', 'function', and 'developer'."
                            % (role,), param=where + ".role")
        content = m.get("content")
        if content is not None and not isinstance(content, (str, list)):
            return oa_error(400, "Invalid type for '%s.content': expected one of a string or "
                            "array of objects, but got %s instead."
                            % (where, json_type_name(content)), param=where + ".content")
        if role != "tool" and open_ids:
            return oa_error(400, "An assistant message with 'tool_calls' must be followed by "
                            "tool messages responding to each 'tool_call_id'. The following "
                            "tool_call_ids did not have response messages: %s"
                            % ", ".join(open_ids), param="messages.[%d].role" % open_owner)
        if role != "tool":
            block_ids = None
        if role in ("system", "developer", "user", "tool") and "content" not in m:
            return oa_error(400, "Missing required parameter: '%s.content'." % where,
                            param=where + ".content")
        if role == "assistant":
            calls = m.get("tool_calls")
            if calls is not None:
                if not isinstance(calls, list):
                    return oa_error(400, "Invalid type for '%s.tool_calls': expected an array "
                                    "of objects, but got %s instead."
                                    % (where, json_type_name(calls)), param=where + ".tool_calls")
                ids = []
                for j, call in enumerate(calls):
                    cw = "%s.tool_calls[%d]" % (where, j)
                    if not isinstance(call, dict):
                        return oa_error(400, "Invalid type for '%s': expected an object, but "
                                        "got %s instead." % (cw, json_type_name(call)), param=cw)
                    for key in ("id", "type", "function"):
                        if key not in call:
                            return oa_error(400, "Missing required parameter: '%s.%s'."
                                            % (cw, key), param="%s.%s" % (cw, key))
                    fn = call["function"]
                    if not isinstance(fn, dict):
                        return oa_error(400, "Invalid type for '%s.function': expected an "
                                        "object, but got %s instead."
                                        % (cw, json_type_name(fn)), param=cw + ".function")
                    for key in ("name", "arguments"):
                        if key not in fn:
                            return oa_error(400, "Missing required parameter: '%s.function.%s'."
                                            % (cw, key), param="%s.function.%s" % (cw, key))
                        if not isinstance(fn[key], str):
                            return oa_error(400, "Invalid type for '%s.function.%s': expected "
                                            "a string, but got %s instead."
                                            % (cw, key, json_type_name(fn[key])),
                                            param="%s.function.%s" % (cw, key))
                    ids.append(str(call["id"]))
                if ids:
                    open_ids = list(ids)
                    open_owner = i
                    block_ids = set(ids)
            elif content is None and not m.get("refusal"):
                return oa_error(400, "Missing required parameter: '%s.content'." % where,
                                param=where + ".content")
        if role == "tool":
            if "tool_call_id" not in m:
                return oa_error(400, "Missing required parameter: '%s.tool_call_id'." % where,
                                param=where + ".tool_call_id")
            if block_ids is None:
                return oa_error(400, "Invalid parameter: messages with role 'tool' must be a "
                                "response to a preceeding message with 'tool_calls'.",
                                param="messages.[%d].role" % i)
            tcid = str(m["tool_call_id"])
            if tcid not in block_ids:
                return oa_error(400, "Invalid parameter: 'tool_call_id' of '%s' not found in "
                                "'tool_calls' of previous message." % tcid,
                                param="messages.[%d].tool_call_id" % i)
            if tcid in open_ids:
                open_ids.remove(tcid)
    if open_ids:
        return oa_error(400, "An assistant message with 'tool_calls' must be followed by tool "
                        "messages responding to each 'tool_call_id'. The following "
                        "tool_call_ids did not have response messages: %s"
                        % ", ".join(open_ids), param="messages.[%d].role" % open_owner)
    return None


class OpenAIFake:
    def __init__(self, key):
        self.key = key
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.next_completion = 1
        self.next_request = 1
        self.next_call = 1
        self.clear()

    def clear(self):
        self.script = collections.deque()
        self.requests = []
        self.releases = 0

    def hold(self):
        """Blocks a held completion until a release is posted (at most MAX_FAULT_DELAY)."""
        deadline = time.monotonic() + MAX_FAULT_DELAY
        with self.cond:
            while self.releases == 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self.cond.wait(remaining)
            self.releases -= 1

    def record(self, path, headers, body):
        with self.lock:
            rec = {"path": path, "headers": headers, "body": body, "ts": time.time(),
                   "http_status": None}
            self.requests.append(rec)
            self.cond.notify_all()
            return rec

    def set_status(self, rec, status):
        with self.lock:
            rec["http_status"] = status
            self.cond.notify_all()

    def control(self, verb, name, query, body_obj):
        if name == "requests" and verb == "GET":
            with self.lock:
                if query.get("all") in ("1", "true"):
                    items = list(self.requests)
                else:
                    path = query.get("path") or "/v1/chat/completions"
                    items = [r for r in self.requests if r["path"] == path]
                return Resp(200, dumps(items))
        if name == "script" and verb == "GET":
            with self.lock:
                return Resp(200, dumps(list(self.script)))
        if name == "reset" and verb == "POST":
            with self.lock:
                self.clear()
                self.cond.notify_all()
            return Resp.json(200, {"ok": True})
        if name == "release" and verb == "POST":
            with self.lock:
                self.releases += 1
                self.cond.notify_all()
            return Resp.json(200, {"ok": True})
        if name == "script" and verb == "POST":
            responses = body_obj.get("responses")
            validate_faults(responses, "responses")
            with self.lock:
                self.script.extend(responses)
                return Resp.json(200, {"ok": True, "queued": len(self.script)})
        if name == "wait":
            if verb != "POST":
                return Resp.json(405, {"error": "use POST for /_fake/wait"})
            count = require_int(body_obj, "count")
            timeout = wait_timeout(body_obj)
            path = require_str(body_obj, "path", default="/v1/chat/completions", required=False)
            deadline = time.monotonic() + timeout
            with self.cond:
                while True:
                    current = sum(1 for r in self.requests if r["path"] == path)
                    if current >= count:
                        return Resp.json(200, {"ok": True, "count": current})
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return Resp.json(200, {"ok": False, "count": current})
                    self.cond.wait(remaining)
        if name in ("requests", "script", "reset", "release"):
            return Resp.json(405, {"error": "wrong HTTP method for /_fake/%s" % name})
        return Resp.json(404, {"error": "unknown control path /_fake/%s" % name})

    def pop_entry(self):
        with self.lock:
            return self.script.popleft() if self.script else None

    def mask_key(self, key):
        if len(key) <= 8:
            return key[:3] + "***"
        return key[:3] + "*" * (len(key) - 7) + key[-4:]

    def check_auth(self, headers):
        auth = headers.get("authorization")
        if not auth:
            return oa_error(401, OPENAI_NO_KEY)
        scheme, _, key = auth.strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return oa_error(401, OPENAI_NO_KEY)
        if key != self.key:
            return oa_error(401, "Incorrect API key provided: %s. You can find your API key at "
                            "https://platform.openai.com/account/api-keys." % self.mask_key(key),
                            code="invalid_api_key")
        return None

    def error_entry(self, entry, model):
        status = entry["status"]
        retry_after = entry.get("retry_after", 1)
        if status == 429:
            if entry.get("code") == "insufficient_quota":
                return oa_error(429, entry.get("message") or OPENAI_QUOTA,
                                type_="insufficient_quota", code="insufficient_quota")
            message = entry.get("message") or (
                "Rate limit reached for %s in organization org-fake on requests per min "
                "(RPM): Limit 3, Used 3, Requested 1. Please try again in %ss. Visit "
                "https://platform.openai.com/account/rate-limits to learn more."
                % (model, retry_after))
            headers = [("retry-after", str(retry_after)),
                       ("x-ratelimit-limit-requests", "3"),
                       ("x-ratelimit-remaining-requests", "0"),
                       ("x-ratelimit-reset-requests", "%ss" % retry_after)]
            return oa_error(429, message, type_=entry.get("type", "requests"),
                            param=entry.get("param"), code=entry.get("code", "rate_limit_exceeded"),
                            headers=headers)
        if status >= 500:
            return oa_error(status, entry.get("message") or OPENAI_SERVER_ERROR,
                            type_=entry.get("type", "server_error"), param=entry.get("param"),
                            code=entry.get("code"))
        defaults = {
            400: "Invalid request.",
            401: "Incorrect API key provided.",
            403: "You are not allowed to sample from this model",
            404: "The model `%s` does not exist or you do not have access to it." % model,
        }
        type_ = entry.get("type") or (
            "invalid_request_error" if status in (400, 401, 404) else "permission_error"
            if status == 403 else "invalid_request_error")
        return oa_error(status, entry.get("message") or defaults.get(status, "Request failed."),
                        type_=type_, param=entry.get("param"), code=entry.get("code"))


class OpenAIHandler(BaseHandler):
    def dispatch(self, path, query, body):
        fake = self.server.fake
        if path.startswith("/_fake/"):
            name = path[len("/_fake/"):].strip("/")
            verb = "GET" if self.command in ("GET", "HEAD") else "POST"
            body_obj = self.control_json(body) if verb == "POST" else {}
            return fake.control(verb, name, query, body_obj)

        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            parsed = json.loads(body) if body.strip() else None
            parse_ok = parsed is not None
        except (ValueError, UnicodeDecodeError):
            parsed = body.decode("utf-8", "replace")
            parse_ok = False
        rec = fake.record(path, headers, parsed)
        with fake.lock:
            request_id = "req_fake%06d" % fake.next_request
            fake.next_request += 1
        extra = [("x-request-id", request_id), ("openai-processing-ms", "1")]

        resp = None
        if path in ("/v1/models", "/v1/models/"):
            if self.command != "GET":
                resp = oa_error(404, "Invalid URL (%s %s)" % (self.command, path))
            else:
                resp = fake.check_auth(headers) or Resp.json(
                    200, {"object": "list", "data": OPENAI_MODELS})
        elif path.startswith("/v1/models/") and self.command == "GET":
            model_id = path[len("/v1/models/"):]
            resp = fake.check_auth(headers)
            if resp is None:
                match = [m for m in OPENAI_MODELS if m["id"] == model_id]
                resp = Resp.json(200, match[0]) if match else oa_error(
                    404, "The model '%s' does not exist" % model_id, param="model",
                    code="model_not_found")
        elif path == "/v1/chat/completions" and self.command == "POST":
            resp = fake.check_auth(headers)
            if resp is None and not parse_ok:
                resp = oa_error(400, OPENAI_BAD_JSON)
            if resp is None:
                resp = validate_chat_request(parsed)
            if resp is None:
                resp = self.complete(parsed, extra, rec)
                if resp is None:  # streamed directly
                    return None
        else:
            resp = oa_error(404, "Invalid URL (%s %s)" % (self.command, path))
        if not resp.close:
            resp.headers = list(resp.headers) + extra
        fake.set_status(rec, 0 if resp.close else resp.status)
        return resp

    # -- completions --------------------------------------------------------
    def complete(self, req, extra_headers, rec):
        fake = self.server.fake
        model = req["model"]
        entry = fake.pop_entry() or {}
        if entry.get("hold") is True:
            fake.hold()
        fault_sleep(entry)
        if entry.get("close"):
            return Resp.drop()
        if entry.get("status") is not None and entry["status"] != 200:
            return fake.error_entry(entry, model)
        stream = req.get("stream") is True
        include_usage = bool(stream and isinstance(req.get("stream_options"), dict)
                             and req["stream_options"].get("include_usage"))
        with fake.lock:
            cid = "chatcmpl-%d" % fake.next_completion
            fake.next_completion += 1
        created = int(time.time())

        if entry.get("malformed"):
            if stream:
                return self.stream_raw(rec, extra_headers,
                                       ['{"id": "chatcmpl-x", "choices": [', "[DONE]"])
            return Resp(200, b'{"id": "chatcmpl-x", "choices": [', "application/json")

        messages = req["messages"]
        content, tool_calls, refusal = self.reply_for(entry, messages)
        reasoning = entry.get("reasoning_content")
        if entry.get("empty_choices"):
            content, tool_calls, refusal, reasoning = None, None, None, None
        finish = entry.get("finish_reason") or ("tool_calls" if tool_calls else "stop")
        usage = self.usage(entry, messages, content, tool_calls, refusal)

        if stream:
            return self.stream_completion(rec, extra_headers, cid, created, model, content,
                                          tool_calls, refusal, finish, usage, include_usage,
                                          entry, reasoning)
        result = {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
        if not entry.get("empty_choices"):
            message = {"role": "assistant", "content": content, "refusal": refusal,
                       "annotations": []}
            if tool_calls:
                message["tool_calls"] = tool_calls
            if reasoning is not None:
                message["reasoning_content"] = reasoning
            result["choices"] = [{"index": 0, "message": message, "logprobs": None,
                                  "finish_reason": finish}]
        return Resp.json(200, result)

    def reply_for(self, entry, messages):
        fake = self.server.fake
        tool_calls = None
        if entry.get("tool_calls"):
            tool_calls = []
            for call in entry["tool_calls"]:
                if not isinstance(call, dict):
                    continue
                if "function" in call and isinstance(call["function"], dict):
                    name = call["function"].get("name", "")
                    args = call["function"].get("arguments", "{}")
                else:
                    name = call.get("name", "")
                    args = call.get("arguments", {})
                if not isinstance(args, str):
                    args = json.dumps(args, ensure_ascii=False, separators=(",", ":"))
                call_id = call.get("id")
                if not call_id:
                    with fake.lock:
                        call_id = "call_fake%d" % fake.next_call
                        fake.next_call += 1
                tool_calls.append({"id": call_id, "type": "function",
                                   "function": {"name": name, "arguments": args}})
        refusal = entry.get("refusal")
        if "content" in entry:
            content = entry["content"]
        elif tool_calls or refusal:
            content = None
        else:
            last_user = ""
            for m in reversed(messages):
                if m.get("role") == "user":
                    last_user = content_text(m.get("content"))
                    break
            content = "echo: " + last_user
        return content, tool_calls, refusal

    @staticmethod
    def usage(entry, messages, content, tool_calls, refusal):
        prompt_chars = sum(len(content_text(m.get("content"))) for m in messages)
        reply_len = len(content or "") + len(refusal or "")
        for call in tool_calls or []:
            reply_len += len(call["function"]["name"]) + len(call["function"]["arguments"])
        p = max(1, prompt_chars // 4)
        c = max(1, reply_len // 4)
        k = 0
        r = 0
        override = entry.get("usage") if isinstance(entry.get("usage"), dict) else {}
        p = override.get("prompt_tokens", p)
        c = override.get("completion_tokens", c)
        k = override.get("cached_tokens", k)
        r = override.get("reasoning_tokens", r)
        total = override.get("total_tokens", p + c)
        return {
            "prompt_tokens": p,
            "completion_tokens": c,
            "total_tokens": total,
            "prompt_tokens_details": {"cached_tokens": k, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": r, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0},
        }

    # -- SSE ----------------------------------------------------------------
    def start_stream(self, extra_headers):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()

    def write_chunk(self, data: bytes):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")

    def stream_raw(self, rec, extra_headers, payloads):
        self.server.fake.set_status(rec, 200)
        try:
            self.start_stream(extra_headers)
            for p in payloads:
                self.write_chunk(("data: %s\n\n" % p).encode("utf-8"))
            self.end_stream()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        return None

    def stream_completion(self, rec, extra_headers, cid, created, model, content, tool_calls,
                          refusal, finish, usage, include_usage, entry, reasoning):
        empty_choices = entry.get("empty_choices")
        n_pieces = max(1, as_int(entry.get("stream_pieces"), 3) or 3)
        stream_error = entry.get("stream_error")

        def chunk(delta, finish_reason=None, choices=True, usage_value=None):
            obj = {"id": cid, "object": "chat.completion.chunk", "created": created,
                   "model": model, "service_tier": "default", "system_fingerprint": "fp_fake",
                   "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                "finish_reason": finish_reason}] if choices else []}
            if include_usage:
                obj["usage"] = usage_value
            return dumps(obj).decode("utf-8")

        def pieces(text, n=n_pieces):
            if not text:
                return []
            size = max(1, -(-len(text) // n))
            return [text[i:i + size] for i in range(0, len(text), size)]

        failed = isinstance(stream_error, dict)
        events = []
        if not empty_choices:
            first = {"role": "assistant", "content": "" if content is not None or not tool_calls
                     else None, "refusal": None}
            events.append(chunk(first))
            for piece in pieces(reasoning):
                events.append(chunk({"reasoning_content": piece}))
            content_pieces = pieces(content)
            if failed:
                content_pieces = content_pieces[:max(0, as_int(stream_error.get("after"), 1))]
            for piece in content_pieces:
                events.append(chunk({"content": piece}))
        if failed:
            # What OpenAI sends when a stream fails after it started: an error object, then the end.
            events.append(dumps({"error": {
                "message": stream_error.get("message") or OPENAI_SERVER_ERROR,
                "type": stream_error.get("type", "server_error"),
                "param": None, "code": stream_error.get("code")}}).decode("utf-8"))
        elif not empty_choices:
            for piece in pieces(refusal):
                events.append(chunk({"refusal": piece}))
            for idx, call in enumerate(tool_calls or []):
                events.append(chunk({"tool_calls": [{
                    "index": idx, "id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}]}))
                for piece in pieces(call["function"]["arguments"]):
                    events.append(chunk({"tool_calls": [{
                        "index": idx, "function": {"arguments": piece}}]}))
            events.append(chunk({}, finish))
        if include_usage and not failed:
            events.append(chunk(None, choices=False, usage_value=usage))
        if not failed:
            events.append("[DONE]")

        self.server.fake.set_status(rec, 200)
        delay = as_float(entry.get("chunk_delay"), 0.0) or 0.0
        try:
            self.start_stream(extra_headers)
            for i, payload in enumerate(events):
                if delay > 0 and i > 0:
                    time.sleep(min(delay, MAX_FAULT_DELAY))
                self.write_chunk(("data: %s\n\n" % payload).encode("utf-8"))
            self.end_stream()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        return None


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def main(argv=None):
    # A parent that starts us from a thread (Foundation's Process does) may hand down a blocked signal mask;
    # unblock what we handle so SIGTERM/SIGINT actually end the fixture.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    parser = argparse.ArgumentParser(description="Fake Telegram + OpenAI servers for tests.")
    parser.add_argument("--telegram-token", default=DEFAULT_TELEGRAM_TOKEN)
    parser.add_argument("--openai-key", default=DEFAULT_OPENAI_KEY)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ignore-stdin", action="store_true",
                        help="do not exit when stdin reaches EOF")
    args = parser.parse_args(argv)

    telegram = FakeServer((args.host, 0), TelegramHandler, TelegramFake(args.telegram_token))
    openai = FakeServer((args.host, 0), OpenAIHandler, OpenAIFake(args.openai_key))
    stop = threading.Event()

    for server in (telegram, openai):
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def watch_stdin():
        try:
            fd = sys.stdin.fileno()
            while os.read(fd, 65536):
                pass
        except (OSError, ValueError, AttributeError):
            pass
        sys.stderr.write("fakes.py: stdin reached EOF, shutting down "
                         "(keep a pipe open on stdin or pass --ignore-stdin)\n")
        sys.stderr.flush()
        stop.set()

    def watch_parent():
        parent = os.getppid()
        while not stop.wait(0.5):
            if os.getppid() != parent:
                stop.set()

    if not args.ignore_stdin:
        threading.Thread(target=watch_stdin, daemon=True).start()
    threading.Thread(target=watch_parent, daemon=True).start()

    sys.stdout.write(json.dumps({"telegram": telegram.server_address[1],
                                 "openai": openai.server_address[1]}) + "\n")
    sys.stdout.flush()

    while not stop.wait(0.5):
        pass
    for server in (telegram, openai):
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
