"""Reply tokens: unguessable, bound to one participant, case-proof, and expiring."""

from __future__ import annotations

import re

from clients import outlook_reply
from harness import MENTEE, MENTOR, body, make_service
from mailflow.clock import SecretTokens


def test_tokens_are_unique_and_safe_in_an_address():
    source = SecretTokens()
    tokens = {source.token() for _ in range(20000)}
    assert len(tokens) == 20000
    assert all(re.fullmatch(r"[a-z2-7]{24}", t) for t in tokens), "lower-case base32, 120 bits"


def intro(service, sink):
    service.pair(MENTEE, MENTOR)
    service.deliver()
    [mail] = [m for m in sink.wait_for(2) if MENTOR in m.rcpt_tos]
    sink.clear()
    return mail


def test_a_plus_address_whose_case_was_changed_still_matches(tmp_path, smtp_sink):
    service = make_service(tmp_path, smtp_sink)
    mail = intro(service, smtp_sink)
    reply_to = mail.message["Reply-To"].addresses[0].addr_spec
    raw = outlook_reply(mail.raw, "Accept", f"Ada <{MENTOR}>", to=reply_to.upper(), threaded=False)
    assert service.process(service.receive(raw, source="smtp")) == "processed"
    assert service.store.pair(1)["state"] == "getting-to-know"


def test_an_expired_token_changes_nothing_and_says_so(tmp_path, smtp_sink):
    service = make_service(tmp_path, smtp_sink, extra="[tokens]\nvalid_days = 30\n")
    mail = intro(service, smtp_sink)
    service.clock.advance(days=31)
    inbound = service.receive(outlook_reply(mail.raw, "Accept", f"Ada <{MENTOR}>"), source="smtp")
    assert service.process(inbound) == "ignored"
    assert service.store.pair(1)["state"] == "introduced"
    service.deliver()
    [note] = smtp_sink.wait_for(1)
    assert note.rcpt_tos == [MENTOR] and "too old to act on" in body(note)


def test_a_token_used_by_the_partner_is_refused(tmp_path, smtp_sink):
    """Sam forwards Ada's introduction to himself and answers it: not his to answer."""
    service = make_service(tmp_path, smtp_sink)
    mail = intro(service, smtp_sink)
    inbound = service.receive(outlook_reply(mail.raw, "Accept", f"Sam <{MENTEE}>"), source="smtp")
    assert service.process(inbound) == "ignored"
    assert service.store.one("SELECT reason FROM inbound")["reason"].startswith("wrong-sender")
    assert service.store.pair(1)["state"] == "introduced"
