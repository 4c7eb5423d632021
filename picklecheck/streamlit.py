"""``import picklecheck.streamlit; picklecheck.streamlit.enable()``: the Streamlit hook.

The implementation lives in :mod:`picklecheck.integrations.streamlit`; this module is
its short, documented name. Importing it imports Streamlit.
"""

from picklecheck.integrations.streamlit import (
    UnserializableSessionStateError,
    disable,
    enable,
    explain_state,
)

__all__ = ["UnserializableSessionStateError", "disable", "enable", "explain_state"]
