"""mailflow: one-to-one mentoring schemes run entirely over email.

Data flows one way::

    inbound (IMAP poller or SMTP/LMTP listener) -> store the raw message
      -> parse (what did the person write?) -> match (who, replying to what?)
      -> workflow rules (what follows?) -> store (one transaction: state, events, outbox)
      -> outbox (send over SMTP after the commit)

with the scheduler feeding timer decisions into the same place.
"""

__version__ = "0.1.0"
