"""Decoding airgate's identity headers (X-Auth-User, X-Auth-Email, X-Auth-Roles, X-Auth-Groups).

The rule airgate follows when it sends them: a value whose bytes are all printable ASCII
(0x20-0x7E) and that contains no ``%`` is sent as it is; any other value is sent whole as
percent-encoded UTF-8 (RFC 3986 unreserved characters left as they are), and the request then
carries ``X-Auth-Encoding: percent``. Decoding every identity header of such a request is safe,
because a value sent as it is never contains ``%``.

The signed assertion carries the same names in its claims (``sub``, ``name``, ``email``); those are
the ones to use. A header is only a cross-check, and a value that breaks the rule decodes to None.
"""
from urllib.parse import unquote

ENCODING_HEADER = "X-Auth-Encoding"
PERCENT = "percent"


def has_control_characters(text):
    """C0 controls, DEL and C1 controls: never part of a user name, e-mail address or group."""
    return any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


def decode_identity_value(value, encoding=None):
    """The text of one identity header value, or None when absent or not encoded by the rule.

    ``value`` is what the web framework hands over (under WSGI, header bytes decoded as
    Latin-1); ``encoding`` is the value of X-Auth-Encoding on the same request.
    """
    if value is None:
        return None
    if (encoding or "").strip().lower() == PERCENT:
        if any(ord(c) > 0x7E or ord(c) < 0x20 for c in value):
            return None  # an encoded value is plain ASCII
        try:
            text = unquote(value, encoding="utf-8", errors="strict")
        except UnicodeDecodeError:
            return None
    else:
        if "%" in value or any(ord(c) > 0x7E or ord(c) < 0x20 for c in value):
            return None  # such a value would have been percent-encoded
        text = value
    if has_control_characters(text):
        return None
    return text


def identity_header(headers, name):
    """Decode header ``name`` from a mapping with ``.get`` (Flask/Starlette headers, or a dict)."""
    return decode_identity_value(headers.get(name), headers.get(ENCODING_HEADER))
