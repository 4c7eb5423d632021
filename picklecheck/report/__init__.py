"""Drawing reports: plain text and JSON (:mod:`.render`), rich terminals (:mod:`.console`)."""
