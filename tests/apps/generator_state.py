"""An app that keeps a generator of pages in session state."""

import streamlit as st

from picklecheck.streamlit import enable

enable()

if "pages" not in st.session_state:
    st.session_state.pages = (n for n in range(10))
st.write("pages")
