"""Identity header decoding (issue 20): the gateway's rule, decoded by every Airflow-side component."""
import unittest
from urllib.parse import quote

import airgate_test_support  # noqa: F401  (puts airflow/ on sys.path)
from airgate_airflow.headers import decode_identity_value, identity_header


def gateway_encode(value):
    """airgate's rule: printable ASCII without % as is; else the whole value percent-encoded UTF-8."""
    raw = value.encode("utf-8")
    if all(0x20 <= b <= 0x7E for b in raw) and b"%" not in raw:
        return value, None
    return quote(value, safe=""), "percent"


def as_wsgi(value):
    """What a WSGI server hands the app: the header bytes decoded as Latin-1 (PEP 3333)."""
    return value.encode("ascii").decode("latin-1")


NAMES = ["alice", "José Müller", "李雷", "Zoë 🚀 Ünal", "ops+team@example.com", "100% uptime", "a~b_c.d-e"]


class HeaderDecodingTest(unittest.TestCase):
    def test_every_name_survives_the_gateway_rule(self):
        for name in NAMES:
            with self.subTest(name=name):
                value, encoding = gateway_encode(name)
                self.assertTrue(all(0x20 <= ord(c) <= 0x7E for c in value), "only printable ASCII on the wire")
                self.assertEqual(decode_identity_value(as_wsgi(value), encoding), name)

    def test_non_ascii_names_are_sent_encoded(self):
        self.assertEqual(gateway_encode("José Müller"), ("Jos%C3%A9%20M%C3%BCller", "percent"))
        self.assertEqual(gateway_encode("李雷"), ("%E6%9D%8E%E9%9B%B7", "percent"))
        self.assertEqual(decode_identity_value("%F0%9F%98%80", "percent"), "😀")

    def test_every_header_of_an_encoded_request_decodes(self):
        headers = {"X-Auth-User": "%E6%9D%8E%E9%9B%B7", "X-Auth-Email": "lilei@example.com",
                   "X-Auth-Encoding": "percent"}
        self.assertEqual(identity_header(headers, "X-Auth-User"), "李雷")
        self.assertEqual(identity_header(headers, "X-Auth-Email"), "lilei@example.com")
        self.assertIsNone(identity_header(headers, "X-Auth-Groups"))

    def test_values_that_break_the_rule_decode_to_none(self):
        self.assertIsNone(decode_identity_value("100%25", None), "a % without the encoding header")
        self.assertIsNone(decode_identity_value("JosÃ©", None), "raw UTF-8 bytes seen as Latin-1")
        self.assertIsNone(decode_identity_value("%C3%28", "percent"), "invalid UTF-8")
        self.assertIsNone(decode_identity_value("Jos\u00e9", "percent"), "an encoded value is ASCII")

    def test_control_characters_are_refused(self):
        for value in ("%0A", "a%0Db", "%7F", "%C2%85", "%00"):
            with self.subTest(value=value):
                self.assertIsNone(decode_identity_value(value, "percent"))
        self.assertIsNone(decode_identity_value("a\tb", None))

    def test_the_encoding_flag_is_case_insensitive_and_other_values_are_plain(self):
        self.assertEqual(decode_identity_value("Jos%C3%A9", "Percent"), "José")
        self.assertIsNone(decode_identity_value("Jos%C3%A9", "rfc8187"))


if __name__ == "__main__":
    unittest.main()
