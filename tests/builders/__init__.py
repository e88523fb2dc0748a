"""What several test modules share: builders of payloads, messages and clients. Test
modules import from here (and from bench/), never from each other."""
