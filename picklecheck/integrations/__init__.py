"""picklecheck where serialization happens: session state, Streamlit, pytest."""
